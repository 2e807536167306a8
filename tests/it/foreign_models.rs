//! Restorers made elsewhere, described by a sidecar TOML (src/model/describe.rs): the GFPGAN,
//! GPEN-BFR and CodeFormer layouts facefusion uses, as synthetic identity graphs
//! (tests/fixtures/models/make_fixtures.py), through the real binary.

use crate::util::*;

/// `daefr restore` of the portrait with `model` (under tests/fixtures/models/foreign/) into `out`.
fn restore_with(model: &str, out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let model = repo_arg(&format!("tests/fixtures/models/foreign/{model}"));
    let mut args = vec![
        "restore".to_string(),
        repo_arg("tests/fixtures/astronaut.png"),
        "-o".into(),
        s(out),
        "--model".into(),
        model,
        "--detector".into(),
        "short-range".into(),
        "--no-cache".into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    daefr(&args)
}

#[test]
fn gfpgan_and_gpen_layouts_run_from_their_sidecar() {
    let dir = tempfile::tempdir().expect("tempdir");
    for model in ["gfpgan-like-512.onnx", "gpen-like-256.onnx"] {
        let out = dir.path().join(format!("{model}.png"));
        let run = restore_with(model, &out, &[]);
        let err = stderr(&run);
        assert!(run.status.success(), "{model}: {err}");
        assert!(
            err.contains("1 face(s) found, 1 restored"),
            "{model}: {err}"
        );
        // an identity restorer changes nothing, whatever its size and template
        assert_eq!(
            image::open(&out).expect("output").to_rgb8(),
            astronaut(),
            "{model}"
        );
    }
    let shown = daefr(&[
        "inspect",
        &repo_arg("tests/fixtures/models/foreign/gfpgan-like-512.onnx"),
    ]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert!(text.contains("daefr.described_by = "), "{text}");
    assert!(
        text.contains("right_eye [192.98"),
        "the FFHQ-512 template: {text}"
    );
}

#[test]
fn codeformer_layout_gets_its_float64_weight_and_its_extra_output_is_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faithful = dir.path().join("w1.png");
    let run = restore_with("codeformer-like-512.onnx", &faithful, &["--fidelity", "1"]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(
        image::open(&faithful).expect("w1").to_rgb8(),
        astronaut(),
        "w = 1: input * 1"
    );
    let dark = dir.path().join("w0.png");
    let run = restore_with("codeformer-like-512.onnx", &dark, &["--fidelity", "0"]);
    assert!(run.status.success(), "{}", stderr(&run));
    // w = 0: input * 0, a mid-grey face pasted over the portrait's
    let dark = image::open(&dark).expect("w0").to_rgb8();
    let moved = dark
        .pixels()
        .zip(astronaut().pixels())
        .filter(|(a, b)| a.0.iter().zip(b.0).any(|(x, y)| x.abs_diff(y) > 40))
        .count();
    assert!(moved > 5_000, "{moved} pixels changed");
}

#[test]
fn a_bad_sidecar_is_named_and_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("m.onnx");
    std::fs::copy(
        repo("tests/fixtures/models/foreign/gfpgan-like-512.onnx"),
        &model,
    )
    .expect("copy");
    std::fs::write(
        dir.path().join("m.onnx.toml"),
        "input_size = 512\ntemplate = \"arcface\"\n",
    )
    .expect("toml");
    let out = daefr(&["inspect", &s(&model)]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("m.onnx.toml") && err.contains("arcface"),
        "{err}"
    );
}

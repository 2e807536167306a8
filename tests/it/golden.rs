//! Golden test: for every model in tests/fixtures/golden/manifest.json (written by
//! `python -m daefr_models.golden`), the Rust runtime's output for the committed input PNG equals
//! onnxruntime's output PNG within 1/255 per pixel and channel.

use std::path::PathBuf;

use daefr::image_io::read_rgb;
use daefr::model::{LoadOptions, Restorer};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Golden {
    name: String,
    model: PathBuf,
    input: PathBuf,
    output: PathBuf,
}

fn goldens() -> Vec<Golden> {
    let dir = root().join("tests/fixtures/golden");
    let text = std::fs::read_to_string(dir.join("manifest.json")).expect("golden manifest");
    let manifest: serde_json::Value = serde_json::from_str(&text).expect("manifest is JSON");
    let entries = manifest.as_object().expect("manifest is an object");
    entries
        .iter()
        .map(|(name, e)| {
            let field = |k: &str| e[k].as_str().unwrap_or_else(|| panic!("{name}: no {k}"));
            Golden {
                name: name.clone(),
                model: root().join(field("model")),
                input: dir.join(field("input")),
                output: dir.join(field("output")),
            }
        })
        .collect()
}

fn check(golden: &Golden, opts: &LoadOptions) {
    // use_cache: false so a stale local NNEF cache never decides the result.
    let restorer = Restorer::load(&golden.model, opts).unwrap();
    let input = read_rgb(&golden.input).unwrap();
    let want = read_rgb(&golden.output).unwrap();
    let got = restorer.restore(&input).unwrap();
    assert_eq!(got.dimensions(), want.dimensions(), "{}", golden.name);
    let mut worst = 0u8;
    let mut over = 0usize;
    for (a, b) in got.as_raw().iter().zip(want.as_raw()) {
        let d = a.abs_diff(*b);
        worst = worst.max(d);
        over += usize::from(d > 1);
    }
    assert!(
        worst <= 1,
        "{} ({}): {over} of {} values differ by more than 1/255 (worst {worst})",
        golden.name,
        golden.model.display(),
        got.as_raw().len()
    );
}

#[test]
fn tract_matches_onnxruntime() {
    let all = goldens();
    assert!(!all.is_empty(), "no goldens in the manifest");
    for golden in &all {
        check(
            golden,
            &LoadOptions {
                threads: None,
                use_cache: false,
                ..LoadOptions::default()
            },
        );
    }
}

#[test]
fn nnef_cache_matches_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let goldens = goldens();
    assert!(
        !goldens.is_empty(),
        "the golden manifest lists no model: nothing would be checked"
    );
    for golden in goldens {
        let nnef = dir.path().join(format!("{}.nnef.tar", golden.name));
        daefr::model::cache::write_nnef(&golden.model, &nnef).unwrap();
        let from_cache = Golden {
            model: nnef,
            ..golden
        };
        check(&from_cache, &LoadOptions::default());
    }
}

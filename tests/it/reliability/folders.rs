//! `restore DIR` says what it skipped: empty folders, dangling and looping links.

use super::*;

// ---------------------------------------------------------------------------------------------
// restore says what it skipped: empty folders, dangling and looping links

#[test]
fn an_empty_folder_is_an_error_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    std::fs::create_dir(&input).expect("mkdir");
    std::fs::write(input.join("readme.txt"), "not a photo").expect("write");
    for aligned in [false, true] {
        let output = dir.path().join(format!("out-{aligned}"));
        let mut args = vec!["restore".to_string(), s(&input), "-o".into(), s(&output)];
        if aligned {
            args.push("--aligned".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = daefr(&args);
        assert!(
            !out.status.success(),
            "aligned={aligned}: an empty folder succeeded"
        );
        assert!(
            stderr(&out).contains("no PNG, JPEG, WebP, BMP or TIFF files"),
            "{}",
            stderr(&out)
        );
        assert!(
            !output.exists(),
            "aligned={aligned}: an output folder was created"
        );
    }
}

#[test]
fn dangling_and_looping_links_are_named_not_skipped_silently() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    std::fs::create_dir(&input).expect("mkdir");
    noisy(48, 48, 1).save(input.join("a.png")).expect("write");
    std::os::unix::fs::symlink(dir.path().join("gone.png"), input.join("dangling.png"))
        .expect("symlink");
    let out = daefr(&[
        "restore",
        &s(&input),
        "-o",
        &s(&dir.path().join("out")),
        "--aligned",
        "--model",
        &s(&identity_model()),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("dangling.png") && err.contains("leads nowhere"),
        "{err}"
    );
    let looped = dir.path().join("loop.png");
    std::os::unix::fs::symlink(&looped, &looped).expect("symlink");
    let out = daefr(&["restore", &s(&looped), "-o", &s(&dir.path().join("x.png"))]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("leads nowhere"), "{}", stderr(&out));
}

//! Never lose a user's file: convert and restore never replace an input, writes are atomic (a full
//! disk keeps the previous file), `run`'s outputs never replace its inputs, a replaced file keeps
//! its mode and links.

use super::*;

// ---------------------------------------------------------------------------------------------
// 1. convert never replaces its input, and writes only .nnef.tar files

#[test]
fn convert_refuses_an_output_that_is_the_model_or_not_an_nnef_archive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let onnx = dir.path().join("a.onnx");
    std::fs::copy(identity_model(), &onnx).expect("copy");
    let original = std::fs::read(&onnx).expect("read");

    let mut same = daefr_cmd();
    same.arg("convert").arg(&onnx).arg("-o").arg(&onnx);
    let out = output_within(same, Duration::from_secs(60));
    assert!(!out.status.success(), "convert a.onnx -o a.onnx succeeded");
    assert_eq!(
        std::fs::read(&onnx).expect("read"),
        original,
        "the model was replaced"
    );

    let png = dir.path().join("x.png");
    let mut wrong = daefr_cmd();
    wrong.arg("convert").arg(&onnx).arg("-o").arg(&png);
    let out = output_within(wrong, Duration::from_secs(60));
    assert!(!out.status.success(), "-o x.png accepted");
    assert!(stderr(&out).contains(".nnef.tar"), "{}", stderr(&out));
    assert!(!png.exists());

    #[cfg(unix)]
    {
        // A symlink named like an archive that points at the model is still the model.
        let link = dir.path().join("link.nnef.tar");
        std::os::unix::fs::symlink(&onnx, &link).expect("symlink");
        let mut linked = daefr_cmd();
        linked.arg("convert").arg(&onnx).arg("-o").arg(&link);
        let out = output_within(linked, Duration::from_secs(60));
        assert!(
            !out.status.success(),
            "convert through a symlink to the model succeeded"
        );
        assert_eq!(std::fs::read(&onnx).expect("read"), original);
    }

    let mut good = daefr_cmd();
    good.arg("convert").arg(&onnx);
    let out = output_within(good, Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("a.nnef.tar").is_file());
}

// ---------------------------------------------------------------------------------------------
// 2. atomic writes: on a full disk the previous file survives and nothing partial is left

#[cfg(unix)]
#[test]
fn a_restore_that_cannot_be_written_keeps_the_previous_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("ok.png");
    noisy(100, 100, 1).save(&input).expect("save");
    let small = dir.path().join("small");
    std::fs::create_dir(&small).expect("mkdir");
    let prev = small.join("prev.png");
    noisy(100, 100, 2).save(&prev).expect("save");
    let before = std::fs::read(&prev).expect("read");

    let cmd = restore(&input, &prev, &["--keep-size", "--force"]);
    let out = output_within(with_tiny_disk(&cmd), Duration::from_secs(60));
    assert!(!out.status.success(), "the write cannot have succeeded");
    assert!(stderr(&out).contains("File too large"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(&prev).expect("read"),
        before,
        "the previous output was replaced by a partial file"
    );
    assert_eq!(
        names_in(&small),
        vec!["prev.png".to_string()],
        "a temporary was left"
    );
}

#[cfg(unix)]
#[test]
fn a_directory_run_on_a_full_disk_leaves_no_partial_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs = dir.path().join("in");
    std::fs::create_dir(&inputs).expect("mkdir");
    for (i, name) in ["a.png", "b.png", "c.png"].iter().enumerate() {
        noisy(100, 100, i as u32)
            .save(inputs.join(name))
            .expect("save");
    }
    let outputs = dir.path().join("out");
    let cmd = restore(&inputs, &outputs, &["--keep-size"]);
    let out = output_within(with_tiny_disk(&cmd), Duration::from_secs(60));
    assert!(!out.status.success());
    for name in names_in(&outputs) {
        let path = outputs.join(&name);
        assert!(
            daefr::image_io::read_rgb(&path).is_ok(),
            "{name} is partial ({} bytes)",
            std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
        );
    }
}

#[cfg(unix)]
#[test]
fn stats_json_and_png_snapshots_are_whole_or_absent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = live_profile(
        dir.path(),
        "kind = \"synthetic\"\nwidth = 320\nheight = 240\nrealtime = false",
    );
    let stats = dir.path().join("stats.json");
    std::fs::write(&stats, b"{\"previous\": \"run\"}").expect("write");
    let cmd = run_live_cli(&config, &["--frames", "2", "--stats-json", &s(&stats)]);
    let out = output_within(with_tiny_disk(&cmd), Duration::from_secs(120));
    assert!(
        !out.status.success(),
        "the statistics cannot have been written"
    );
    assert_eq!(
        std::fs::read_to_string(&stats).expect("read"),
        "{\"previous\": \"run\"}",
        "the previous statistics were truncated"
    );
    assert_eq!(
        names_in(dir.path()),
        vec!["live.toml".to_string(), "png".into(), "stats.json".into()]
    );
    for name in names_in(&dir.path().join("png")) {
        let path = dir.path().join("png").join(&name);
        assert!(image::open(&path).is_ok(), "snapshot {name} is partial");
    }
}

#[cfg(unix)]
#[test]
fn a_cache_that_cannot_be_written_keeps_the_previous_cache() {
    // The cache was already written under a temporary name; this keeps it so (now fsynced).
    let dir = tempfile::tempdir().expect("tempdir");
    let onnx = dir.path().join("m.onnx");
    std::fs::copy(repo("tests/fixtures/daefr-tiny.onnx"), &onnx).expect("copy");
    let cache = dir.path().join("m.nnef.tar");
    std::fs::write(&cache, b"previous cache").expect("write");
    let mut cmd = daefr_cmd();
    cmd.arg("convert").arg(&onnx);
    let out = output_within(with_tiny_disk(&cmd), Duration::from_secs(60));
    assert!(!out.status.success());
    assert_eq!(std::fs::read(&cache).expect("read"), b"previous cache");
    assert_eq!(
        names_in(dir.path()),
        vec!["m.nnef.tar".to_string(), "m.onnx".into()]
    );
}

// ---------------------------------------------------------------------------------------------
// 3. restore never overwrites an original (or any file) unless asked to

#[test]
fn restore_refuses_to_overwrite_its_input_unless_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let photo = dir.path().join("a.png");
    noisy(64, 64, 3).save(&photo).expect("save");
    let original = std::fs::read(&photo).expect("read");

    let out = output_within(restore(&photo, &photo, &[]), Duration::from_secs(60));
    assert!(!out.status.success(), "restore a.png -o a.png succeeded");
    assert!(stderr(&out).contains("--in-place"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&photo).expect("read"), original);

    // The same file under another spelling, or through a symlink, is still the input.
    let dotted = dir.path().join(".").join("a.png");
    let out = output_within(
        restore(&photo, &dotted, &["--force"]),
        Duration::from_secs(60),
    );
    assert!(!out.status.success(), "./a.png is a.png, even with --force");
    #[cfg(unix)]
    {
        let link = dir.path().join("link.png");
        std::os::unix::fs::symlink(&photo, &link).expect("symlink");
        let out = output_within(restore(&photo, &link, &[]), Duration::from_secs(60));
        assert!(!out.status.success(), "a symlink to the input is the input");
    }
    assert_eq!(std::fs::read(&photo).expect("read"), original);

    let out = output_within(
        restore(&photo, &photo, &["--in-place"]),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // The identity model at 32 px: the photo is now its 32x32 restoration.
    assert_eq!(image::image_dimensions(&photo).expect("dims"), (32, 32));
}

#[test]
fn restore_refuses_a_directory_onto_itself_unless_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let photos = dir.path().join("photos");
    std::fs::create_dir(&photos).expect("mkdir");
    noisy(64, 64, 4).save(photos.join("a.png")).expect("save");
    noisy(64, 64, 5).save(photos.join("b.png")).expect("save");
    let before = std::fs::read(photos.join("a.png")).expect("read");

    for output in [photos.clone(), photos.join(".")] {
        let out = output_within(restore(&photos, &output, &[]), Duration::from_secs(60));
        assert!(
            !out.status.success(),
            "restore dir -o {} succeeded",
            output.display()
        );
        assert!(stderr(&out).contains("--in-place"), "{}", stderr(&out));
    }
    assert_eq!(std::fs::read(photos.join("a.png")).expect("read"), before);

    let out = output_within(
        restore(&photos, &photos, &["--in-place"]),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(names_in(&photos), vec!["a.png".to_string(), "b.png".into()]);
    assert_eq!(
        image::image_dimensions(photos.join("a.png")).expect("dims"),
        (32, 32)
    );
}

#[test]
fn restore_refuses_to_overwrite_an_existing_output_unless_forced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("face.png");
    noisy(32, 32, 6).save(&input).expect("save");
    let output = dir.path().join("out.png");
    std::fs::write(&output, b"someone's file").expect("write");

    let out = output_within(restore(&input, &output, &[]), Duration::from_secs(60));
    assert!(
        !out.status.success(),
        "an existing file was overwritten without --force"
    );
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&output).expect("read"), b"someone's file");

    // A directory run checks every output before restoring any.
    let inputs = dir.path().join("in");
    let outputs = dir.path().join("out");
    std::fs::create_dir(&inputs).expect("mkdir");
    std::fs::create_dir(&outputs).expect("mkdir");
    noisy(32, 32, 7).save(inputs.join("a.png")).expect("save");
    noisy(32, 32, 8).save(inputs.join("b.png")).expect("save");
    std::fs::write(outputs.join("b.png"), b"keep me").expect("write");
    let out = output_within(restore(&inputs, &outputs, &[]), Duration::from_secs(60));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("b.png"), "{}", stderr(&out));
    assert_eq!(
        names_in(&outputs),
        vec!["b.png".to_string()],
        "work started anyway"
    );

    let out = output_within(
        restore(&input, &output, &["--force"]),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        image::open(&output).expect("output").to_rgb8(),
        noisy(32, 32, 6)
    );
}

// ---------------------------------------------------------------------------------------------
// run's outputs never replace its inputs, and its clock bounds are errors, not panics

#[test]
fn stats_json_never_replaces_the_profile_or_the_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = live_profile(dir.path(), "kind = \"synthetic\"\nwidth = 64\nheight = 64");
    let before = std::fs::read(&config).expect("profile");
    let link = dir.path().join("link.toml");
    std::os::unix::fs::symlink(&config, &link).expect("symlink");
    for target in [&config, &link] {
        let out = output_within(
            run_live_cli(&config, &["--frames", "1", "--stats-json", &s(target)]),
            Duration::from_secs(60),
        );
        assert!(
            !out.status.success(),
            "--stats-json {} ran",
            target.display()
        );
        assert!(stderr(&out).contains("the profile"), "{}", stderr(&out));
        assert_eq!(
            std::fs::read(&config).expect("profile"),
            before,
            "the profile changed"
        );
    }
    let model_copy = dir.path().join("m.onnx");
    std::fs::copy(repo("tests/fixtures/daefr-tiny.onnx"), &model_copy).expect("copy");
    let text = std::fs::read_to_string(&config).expect("profile").replace(
        &repo("tests/fixtures/daefr-tiny.onnx").display().to_string(),
        &s(&model_copy),
    );
    std::fs::write(&config, text).expect("write");
    let model_bytes = std::fs::read(&model_copy).expect("model");
    let out = output_within(
        run_live_cli(&config, &["--frames", "1", "--stats-json", &s(&model_copy)]),
        Duration::from_secs(60),
    );
    assert!(
        !out.status.success() && stderr(&out).contains("the model"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read(&model_copy).expect("model"), model_bytes);
}

#[test]
fn a_vanishing_frame_rate_or_an_endless_duration_is_refused_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    for fps in ["1e-30", "1e-12"] {
        let config = live_profile(dir.path(), &format!("kind = \"synthetic\"\nfps = {fps}"));
        let out = output_within(
            run_live_cli(&config, &["--frames", "1"]),
            Duration::from_secs(60),
        );
        let err = stderr(&out);
        assert!(
            !out.status.success() && err.contains("source.fps"),
            "fps {fps}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    let config = live_profile(dir.path(), "kind = \"synthetic\"");
    let out = output_within(
        run_live_cli(&config, &["--duration", "1e19"]),
        Duration::from_secs(60),
    );
    let err = stderr(&out);
    assert!(!out.status.success() && err.contains("too long"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// replacing a file keeps what the user set up: its mode, and a link stays a link

#[test]
fn force_keeps_the_mode_and_in_place_writes_through_a_link() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("face.png");
    noisy(48, 48, 3).save(&input).expect("write");
    let output = dir.path().join("out.png");
    noisy(8, 8, 4).save(&output).expect("write");
    std::fs::set_permissions(&output, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let model = s(&identity_model());
    let out = daefr(&[
        "restore",
        &s(&input),
        "-o",
        &s(&output),
        "--aligned",
        "--model",
        &model,
        "--force",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mode = std::fs::metadata(&output)
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "--force reset the mode");
    assert_eq!(
        image::open(&output).expect("out").to_rgb8().dimensions(),
        (32, 32)
    );

    let link = dir.path().join("link.png");
    std::os::unix::fs::symlink(&input, &link).expect("symlink");
    let out = daefr(&[
        "restore",
        &s(&link),
        "-o",
        &s(&link),
        "--aligned",
        "--model",
        &model,
        "--in-place",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        link.is_symlink(),
        "--in-place replaced the link with a file"
    );
    assert_eq!(
        image::open(&input).expect("target").to_rgb8().dimensions(),
        (32, 32),
        "the target was not restored"
    );
}

// ---------------------------------------------------------------------------------------------
// bench --select --write on a full disk
#[cfg(unix)]
#[test]
fn bench_select_write_on_a_full_disk_says_it_cannot_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = live_profile(dir.path(), "kind = \"synthetic\"\nwidth = 64\nheight = 64");
    // pad the profile past one 512-byte block so that `ulimit -f 1` refuses to write it whole
    let mut text = std::fs::read_to_string(&config).expect("profile");
    text.push_str(&format!("\n# {}\n", "padding ".repeat(80)));
    std::fs::write(&config, &text).expect("write");
    let mut cmd = daefr_cmd();
    cmd.args([
        "bench",
        "--config",
        &s(&config),
        "--select",
        "--seconds",
        "0.2",
        "--write",
    ]);
    let out = output_within(with_tiny_disk(&cmd), Duration::from_secs(120));
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("cannot write config") && !err.contains("cannot read"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&config).expect("profile"),
        text,
        "the profile changed"
    );
}

//! Stops are quick and clean: the live loop at any frame rate, file sources that cannot deliver,
//! SIGINT/SIGTERM during `restore DIR` and `convert`.

use super::*;

// ---------------------------------------------------------------------------------------------
// 6. a stop is quick at any frame rate

#[test]
fn a_stop_ends_a_slow_live_loop_within_half_a_second() {
    // One frame every 20 s: the first is shown at once, then the loop waits for the next.
    let source = SyntheticSource::new(320, 240, 1, 3, Some(0.05)).expect("synthetic");
    let stop = Arc::new(AtomicBool::new(false));
    let runner = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (result, frames) = live(Box::new(source), None, Duration::from_secs(120), stop);
            (result.map(|s| s.frames_shown), frames.shown())
        })
    };
    // Let the loop show its first frame and settle into the wait, then stop it.
    std::thread::sleep(Duration::from_millis(1500));
    let signalled = Instant::now();
    stop.store(true, Ordering::SeqCst);
    while !runner.is_finished() {
        assert!(
            signalled.elapsed() < Duration::from_secs(30),
            "the loop ignores the stop"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = signalled.elapsed();
    let (result, shown) = runner.join().expect("runner");
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(shown, 1, "exactly the first frame was due");
    assert!(took < Duration::from_millis(500), "stopping took {took:?}");
}

#[cfg(unix)]
#[test]
fn sigterm_stops_daefr_run_quickly_at_a_very_low_frame_rate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = live_profile(
        dir.path(),
        "kind = \"synthetic\"\nwidth = 320\nheight = 240\nfps = 0.05",
    );
    let mut child = run_live_cli(&config, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let first = dir.path().join("png/frame-000000.png");
    let waiting = Instant::now();
    while !first.is_file() && waiting.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(first.is_file(), "the loop never showed a frame");
    std::thread::sleep(Duration::from_millis(300));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if signalled.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("SIGTERM ignored for 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success());
    // The loop itself stops within 0.5 s (test above); allow for process exit on a busy machine.
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "{:?}",
        signalled.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// 8. file sources that can never deliver give up with an error

#[test]
fn a_directory_of_only_bad_images_gives_up_with_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("a.png"), b"not a png").expect("write");
    std::fs::write(dir.path().join("b.jpg"), b"").expect("write");
    let source = DirectorySource::open(dir.path(), Some((320, 240)), None).expect("open");
    let start = Instant::now();
    let (result, _) = live(
        Box::new(source),
        Some(5),
        Duration::from_secs(20),
        Arc::new(AtomicBool::new(false)),
    );
    let message = match result {
        Ok(stats) => panic!("kept retrying for {:?}: {stats:?}", start.elapsed()),
        Err(e) => e.to_string(),
    };
    assert!(
        message.contains("giving up") && message.contains("in a row"),
        "{message}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_y4m_without_frames_gives_up_with_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("empty.y4m");
    std::fs::write(&path, b"YUV4MPEG2 W8 H8 F30:1 Ip A1:1 C420jpeg\n").expect("write");
    let source = Y4mSource::open(&path, None).expect("a header alone opens");
    let (result, _) = live(
        Box::new(source),
        Some(5),
        Duration::from_secs(20),
        Arc::new(AtomicBool::new(false)),
    );
    let message = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("giving up") && message.contains("no frames"),
        "{message:?}"
    );
}

#[test]
fn daefr_run_on_a_directory_of_bad_images_exits_with_one_clear_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let images = dir.path().join("images");
    std::fs::create_dir(&images).expect("mkdir");
    std::fs::write(images.join("a.png"), b"not a png").expect("write");
    let config = live_profile(
        dir.path(),
        &format!(
            "kind = \"directory\"\npath = \"{}\"\nfps = 30",
            images.display()
        ),
    );
    let out = output_within(
        run_live_cli(&config, &["--frames", "5"]),
        Duration::from_secs(60),
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("daefr: ") && last.contains("giving up"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// a stop signal during restore DIR: the files in flight are finished, no temporary is left
/// Sends `SIG<signal>` to `child` and waits for it: its exit status and stderr.
fn signal_and_wait(
    mut child: std::process::Child,
    signal: &str,
) -> (std::process::ExitStatus, String) {
    let kill = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status();
    assert!(kill.expect("kill").success());
    let status = child.wait().expect("wait");
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read");
    (status, err)
}

#[test]
fn sigint_and_sigterm_stop_a_directory_run_cleanly() {
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = dir.path().join("in");
        std::fs::create_dir(&input).expect("mkdir");
        for i in 0..400 {
            noisy(128, 128, i)
                .save(input.join(format!("{i:03}.png")))
                .expect("write");
        }
        let output = dir.path().join("out");
        // the bundled model: slow enough (tens of ms per crop) to be stopped half way
        let child = daefr_cmd()
            .args([
                "restore",
                &s(&input),
                "-o",
                &s(&output),
                "--aligned",
                "--workers",
                "1",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let start = Instant::now();
        while names_in(&output)
            .iter()
            .filter(|n| n.ends_with(".png"))
            .count()
            < 2
        {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no output appeared"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let (status, err) = signal_and_wait(child, signal);
        assert_eq!(status.code(), Some(code), "SIG{signal}: {err}");
        assert!(err.contains(&format!("stopped by SIG{signal}")), "{err}");
        let names = names_in(&output);
        assert!(
            names.iter().all(|n| !n.ends_with(".tmp")),
            "temporary left: {names:?}"
        );
        assert!(names.len() < 400, "nothing was stopped");
        for name in &names {
            image::open(output.join(name)).expect("every written file is whole");
        }
    }
}

#[test]
fn a_signal_during_convert_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let model = dir.path().join("m.onnx");
    std::fs::copy(repo("models/daefr-lite-128-int8.onnx"), &model).expect("copy");
    let output = dir.path().join("m.nnef.tar");
    let child = daefr_cmd()
        .args(["convert", &s(&model), "-o", &s(&output)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // the conversion takes most of a second; the handlers are installed within milliseconds
    std::thread::sleep(Duration::from_millis(250));
    let (status, err) = signal_and_wait(child, "INT");
    assert_eq!(status.code(), Some(130), "{err}");
    let names = names_in(dir.path());
    assert!(
        names.iter().all(|n| !n.ends_with(".tmp")),
        "temporary left: {names:?}"
    );
    assert!(daefr::model::cache::stored_source_key(&output)
        .expect("whole archive")
        .is_some());
}

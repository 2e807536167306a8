//! Issue 11, "never lose a user's file, never hang, never trust a bad model": one test per defect
//! of the bad-input run, through the binary where the user met it. Files are generated here.

use crate::util::*;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use daefr::capture::{DirectorySource, FrameSource, SyntheticSource, Y4mSource};
use daefr::display::MemoryDisplay;
use daefr::model::{LoadOptions, Restorer};
use daefr::pipeline::{run_live, LiveStages, LiveStats, TemplateCompositor};
use image::{Rgb, RgbImage};

// ---------------------------------------------------------------------------------------------
// Helpers

fn identity_model() -> PathBuf {
    repo("tests/fixtures/models/identity-32.onnx")
}

/// Runs `cmd` and kills it after `limit`: a hang fails the test instead of blocking the suite.
fn output_within(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {limit:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().expect("stdout"),
        stderr: err.join().expect("stderr"),
    }
}

/// A noisy face-sized picture: compresses badly, so its PNG is tens of kilobytes.
fn noisy(w: u32, h: u32, seed: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let v = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503) ^ seed).wrapping_mul(97);
        Rgb([(v >> 3) as u8, (v >> 11) as u8, (v >> 19) as u8])
    })
}

/// `daefr restore --aligned` with the identity model.
fn restore(input: &Path, output: &Path, extra: &[&str]) -> Command {
    let mut cmd = daefr_cmd();
    cmd.arg("restore")
        .arg(input)
        .arg("-o")
        .arg(output)
        .args(["--aligned", "--no-cache", "--model"])
        .arg(identity_model())
        .args(extra);
    cmd
}

/// `cmd` run by `sh` with a file-size limit of one block (512 or 1024 bytes, the shell decides):
/// every write past it fails with EFBIG, like a full disk. SIGXFSZ is ignored so the write fails
/// instead of killing the process.
#[cfg(unix)]
fn with_tiny_disk(cmd: &Command) -> Command {
    with_ulimit(cmd, "-f 1")
}

/// `cmd` under `sh -c "ulimit <limit>; exec ..."`, SIGXFSZ ignored.
#[cfg(unix)]
fn with_ulimit(cmd: &Command, limit: &str) -> Command {
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit {limit} && exec \"$0\" \"$@\""
        ))
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env_remove("RUST_LOG")
        .env_remove("DAEFR_MODEL");
    sh
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A synthetic live profile with `source_extra` lines in `[source]` and a PNG display.
fn live_profile(dir: &Path, source: &str) -> PathBuf {
    let text = format!(
        "[source]\n{source}\n\n[model]\nrestorer = \"{}\"\n\n\
         [faults]\nretry_initial_ms = 5\nretry_max_ms = 20\n\n\
         [display]\nkind = \"png\"\npng_dir = \"{}\"\npng_every = 1\n",
        repo("tests/fixtures/daefr-tiny.onnx").display(),
        dir.join("png").display(),
    );
    let path = dir.join("live.toml");
    std::fs::write(&path, text).expect("write profile");
    path
}

/// `daefr run` on `config`; a synthetic source's own ground truth stands in for the detector.
fn run_live_cli(config: &Path, extra: &[&str]) -> Command {
    let synthetic = std::fs::read_to_string(config)
        .expect("read profile")
        .contains("kind = \"synthetic\"");
    let mut cmd = daefr_cmd();
    cmd.args(["run", "--no-cache"]);
    if synthetic {
        cmd.arg("--truth-detector");
    }
    cmd.arg("--config").arg(config).args(extra);
    cmd
}

/// Runs `source` through the live loop (fake restorer, in-memory display) with `stop`.
fn live(
    source: Box<dyn FrameSource>,
    max_frames: Option<u64>,
    max_duration: Duration,
    stop: Arc<AtomicBool>,
) -> (
    Result<LiveStats, daefr::pipeline::LiveError>,
    daefr::display::MemoryFrames,
) {
    let (display, frames) = MemoryDisplay::new(0);
    let stages = LiveStages {
        source,
        detector: Box::new(crate::common_live::NoFaces),
        restorers: vec![Box::new(crate::common_live::PaintRestorer {
            delay: Duration::ZERO,
            count: Arc::new(AtomicU64::new(0)),
        })],
        compositor: Arc::new(TemplateCompositor {
            template: crate::common_live::template(),
            size: crate::common_live::SIZE,
        }),
        display: Box::new(display),
    };
    let mut options = crate::common_live::options(max_frames, crate::common_live::no_overlay());
    options.max_duration = Some(max_duration);
    (run_live(stages, options, stop), frames)
}

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
// 4. the NNEF cache belongs to the content of its ONNX file, not to its time

/// Sets a file's modification time to 2001.
fn make_old(path: &Path) {
    let old = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(old))
        .expect("set mtime");
}

#[test]
fn a_cache_made_from_another_onnx_file_is_ignored_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let onnx = dir.path().join("m.onnx");
    std::fs::copy(identity_model(), &onnx).expect("copy");
    let mut convert = daefr_cmd();
    convert.arg("convert").arg(&onnx);
    let out = output_within(convert, Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr(&out));

    // `cp -p` of a new model over the old one: new content, old time (older than the cache).
    std::fs::copy(repo("tests/fixtures/daefr-tiny-v1.onnx"), &onnx).expect("copy");
    make_old(&onnx);

    let face = dir.path().join("face.png");
    noisy(32, 32, 9).save(&face).expect("save");
    let (cached, fresh) = (dir.path().join("cached.png"), dir.path().join("fresh.png"));
    let run = |output: &Path, extra: &[&str]| {
        let mut cmd = daefr_cmd();
        cmd.arg("restore")
            .arg(&face)
            .arg("-o")
            .arg(output)
            .args(["--aligned", "--model"])
            .arg(&onnx)
            .args(extra);
        output_within(cmd, Duration::from_secs(60))
    };
    let out = run(&cached, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ignoring NNEF cache"),
        "no warning: {}",
        stderr(&out)
    );
    let out = run(&fresh, &["--no-cache"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        image::open(&cached).expect("cached").to_rgb8(),
        image::open(&fresh).expect("fresh").to_rgb8(),
        "the stale cache ran instead of the new model"
    );

    // A cache of the very same content is used whatever the times say.
    std::fs::copy(identity_model(), &onnx).expect("copy");
    let mut convert = daefr_cmd();
    convert.arg("convert").arg(&onnx);
    assert!(output_within(convert, Duration::from_secs(60))
        .status
        .success());
    make_old(&dir.path().join("m.nnef.tar"));
    let restorer = Restorer::load(&onnx, &LoadOptions::default()).expect("load");
    assert_eq!(restorer.format(), daefr::model::ModelFormat::Nnef);
}

// ---------------------------------------------------------------------------------------------
// 5. --threads is capped at what the machine has

#[test]
fn threads_beyond_the_machine_are_capped_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("face.png");
    noisy(32, 32, 10).save(&input).expect("save");
    let mut cmd = daefr_cmd();
    cmd.args(["--threads", "100000"]);
    let inner = restore(&input, &dir.path().join("out.png"), &[]);
    cmd.args(inner.get_args());
    let out = output_within(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("100000 threads") && err.contains("using"),
        "{err}"
    );
}

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
// 7. --duration must be a positive number of seconds

#[test]
fn a_zero_negative_or_nan_duration_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = live_profile(
        dir.path(),
        "kind = \"synthetic\"\nwidth = 320\nheight = 240\nfps = 30",
    );
    for bad in [
        "--duration=0",
        "--duration=-1",
        "--duration=nan",
        "--duration=inf",
    ] {
        let out = output_within(run_live_cli(&config, &[bad]), Duration::from_secs(60));
        assert!(!out.status.success(), "{bad} accepted");
        let err = stderr(&out);
        assert!(
            err.contains("duration") && err.contains("positive"),
            "{bad}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
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
// 9. images that would exhaust memory are refused with one line, never an abort

fn crc32(bytes: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(bytes);
    hasher.finalize()
}

fn png_chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let mut chunk = kind.to_vec();
    chunk.extend_from_slice(data);
    png.extend_from_slice(&(data.len() as u32).to_be_bytes());
    png.extend_from_slice(&chunk);
    png.extend_from_slice(&crc32(&chunk).to_be_bytes());
}

/// A valid 64x64 PNG with an iCCP chunk that inflates to `icc_mb` MB of zeros (under 1 MB on disk).
fn icc_bomb_png(path: &Path, icc_mb: usize) {
    use std::io::Write;
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..icc_mb {
        zlib.write_all(&zeros).expect("deflate");
    }
    let profile = zlib.finish().expect("deflate");
    let mut plain = Vec::new();
    noisy(64, 64, 11)
        .write_to(
            &mut std::io::Cursor::new(&mut plain),
            image::ImageFormat::Png,
        )
        .expect("encode");
    // Insert iCCP right after IHDR (8-byte signature + 25-byte IHDR chunk).
    let mut png = plain[..33].to_vec();
    let mut iccp = b"bomb\0\0".to_vec();
    iccp.extend_from_slice(&profile);
    png_chunk(&mut png, b"iCCP", &iccp);
    png.extend_from_slice(&plain[33..]);
    std::fs::write(path, png).expect("write");
}

/// Exit by a signal (an abort is SIGABRT, exit 134 in a shell) or an allocator message.
fn assert_no_abort(out: &Output) {
    let err = stderr(out);
    assert!(out.status.code().is_some(), "killed by a signal: {err}");
    assert_ne!(out.status.code(), Some(134), "aborted: {err}");
    assert!(!err.contains("memory allocation"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_png_whose_icc_chunk_inflates_to_400_mb_costs_no_400_mb() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bomb = dir.path().join("bomb.png");
    icc_bomb_png(&bomb, 400);
    assert!(std::fs::metadata(&bomb).expect("meta").len() < 1 << 20);
    let cmd = restore(&bomb, &dir.path().join("out.png"), &[]);
    // 300 MB of address space: enough for daefr, not for a 400 MB profile.
    let out = output_within(with_ulimit(&cmd, "-v 300000"), Duration::from_secs(120));
    assert_no_abort(&out);
    if !out.status.success() {
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    }
}

/// A small real JPEG whose frame header is rewritten to claim `w` x `h`.
fn jpeg_claiming(path: &Path, w: u16, h: u16) {
    let mut bytes = Vec::new();
    noisy(16, 16, 12)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Jpeg,
        )
        .expect("encode");
    let sof = bytes
        .windows(2)
        .position(|m| m == [0xFF, 0xC0])
        .expect("baseline frame header");
    bytes[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    std::fs::write(path, bytes).expect("write");
}

#[cfg(unix)]
#[test]
fn a_7000_px_jpeg_that_does_not_fit_in_memory_is_refused_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("big.jpg");
    jpeg_claiming(&big, 7000, 7000); // 49 MP: under the 50 MP pixel limit, 147 MB decoded
    let cmd = restore(&big, &dir.path().join("out.png"), &[]);
    // 170 MB of address space: daefr runs in it, a 147 MB image buffer does not fit beside it
    // (before the fix: "memory allocation of 147000000 bytes failed", abort, exit 134).
    let out = output_within(with_ulimit(&cmd, "-v 170000"), Duration::from_secs(120));
    assert_no_abort(&out);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("big.jpg") && err.contains("memory"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// 11. model inputs the runtime does not implement are refused by name

/// The identity model with its input declaration changed by `edit`, written to `path`.
fn edited_identity(path: &Path, edit: impl FnOnce(&mut tract_onnx::pb::TypeProto)) {
    use prost::Message;
    let bytes = std::fs::read(identity_model()).expect("read");
    let mut model = tract_onnx::pb::ModelProto::decode(&bytes[..]).expect("decode");
    let graph = model.graph.as_mut().expect("graph");
    let input = graph
        .input
        .iter_mut()
        .find(|i| i.name == "input")
        .expect("input");
    edit(input.r#type.as_mut().expect("type"));
    std::fs::write(path, model.encode_to_vec()).expect("write");
}

fn tensor_type(t: &mut tract_onnx::pb::TypeProto) -> &mut tract_onnx::pb::type_proto::Tensor {
    match t.value.as_mut() {
        Some(tract_onnx::pb::type_proto::Value::TensorType(tensor)) => tensor,
        _ => panic!("not a tensor type"),
    }
}

fn load_error(path: &Path) -> String {
    let options = LoadOptions {
        use_cache: false,
        ..LoadOptions::default()
    };
    match Restorer::load(path, &options) {
        Ok(_) => panic!("{} was accepted", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_uint8_input_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("uint8.onnx");
    edited_identity(&path, |t| {
        tensor_type(t).elem_type = tract_onnx::pb::tensor_proto::DataType::Uint8 as i32;
    });
    let err = load_error(&path);
    assert!(err.contains("uint8") && err.contains("float32"), "{err}");
}

#[test]
fn dynamic_input_dimensions_are_refused_by_name() {
    use tract_onnx::pb::tensor_shape_proto::dimension::Value;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("dynamic.onnx");
    edited_identity(&path, |t| {
        let shape = tensor_type(t).shape.as_mut().expect("shape");
        shape.dim[0].value = Some(Value::DimParam("batch".into()));
        shape.dim[2].value = None;
    });
    let err = load_error(&path);
    assert!(err.contains("dynamic") && err.contains("batch"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// 12. DAEFR_MODEL that points nowhere is an error, not a fallback

#[test]
fn daefr_model_pointing_nowhere_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("face.png");
    noisy(32, 32, 13).save(&input).expect("save");
    let missing = dir.path().join("missing.onnx");
    let mut cmd = daefr_cmd();
    cmd.arg("restore")
        .arg(&input)
        .arg("-o")
        .arg(dir.path().join("out.png"))
        .arg("--aligned")
        .env("DAEFR_MODEL", &missing);
    let out = output_within(cmd, Duration::from_secs(120));
    assert!(!out.status.success(), "fell back to the bundled model");
    let err = stderr(&out);
    assert!(
        err.contains("DAEFR_MODEL") && err.contains("missing.onnx"),
        "{err}"
    );
    assert!(!dir.path().join("out.png").exists());
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

#[cfg(unix)]
#[test]
fn two_large_photos_on_two_workers_never_abort_for_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    std::fs::create_dir(&input).expect("mkdir");
    // two real 49-MP JPEGs (147 MB each decoded)
    let big = RgbImage::from_fn(7000, 7000, |x, y| {
        Rgb([(x / 28) as u8, (y / 28) as u8, ((x ^ y) & 0xff) as u8])
    });
    for name in ["a.jpg", "b.jpg"] {
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 50)
            .encode_image(&big)
            .expect("encode");
        std::fs::write(input.join(name), bytes).expect("write");
    }
    drop(big);
    let mut cmd = daefr_cmd();
    cmd.args([
        "restore",
        &s(&input),
        "-o",
        &s(&dir.path().join("out")),
        "--workers",
        "2",
        "--model",
        &s(&identity_model()),
    ]);
    let out = output_within(with_ulimit(&cmd, "-v 700000"), Duration::from_secs(240));
    // each photo is either restored or refused with one line; the process never aborts
    assert_no_abort(&out);
    let err = stderr(&out);
    for name in ["a.jpg", "b.jpg"] {
        assert!(err.contains(name), "{name} not reported: {err}");
    }
}

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

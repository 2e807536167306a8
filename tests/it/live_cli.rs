//! `daefr run` end to end: the binary with a synthetic profile, `--frames`, `--stats-json`,
//! SIGTERM shutdown and config errors.

use crate::util::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn profile(dir: &Path, extra_source: &str) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = format!(
        "[source]\nkind = \"synthetic\"\nwidth = 320\nheight = 240\nfps = 30\n{extra_source}\n\
         [model]\nrestorer = \"{}\"\ndetector = \"{}\"\n\n\
         [display]\nkind = \"png\"\npng_dir = \"{}\"\npng_every = 5\n",
        root.join("tests/fixtures/daefr-tiny.onnx").display(),
        root.join("models/blazeface/face_detection_front_128x128_barracuda.onnx")
            .display(),
        dir.join("png").display(),
    );
    let path = dir.join("live.toml");
    std::fs::write(&path, text).expect("write profile");
    path
}

#[test]
fn frames_limit_writes_stats_json_and_snapshots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = profile(dir.path(), "");
    let stats = dir.path().join("stats.json");
    let out = daefr_cmd()
        .args(["run", "--no-cache", "--frames", "12", "--config"])
        .arg(&config)
        .arg("--stats-json")
        .arg(&stats)
        .output()
        .expect("run daefr");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).expect("stats")).expect("json");
    let n = |k: &str| json[k].as_u64().unwrap_or(u64::MAX);
    assert_eq!(n("frames_captured"), 12);
    assert_eq!(n("frames_shown") + n("frames_dropped"), 12);
    assert!(String::from_utf8_lossy(&out.stdout).contains("12 captured"));
    assert!(dir.path().join("png/frame-000000.png").is_file());
}

#[test]
fn sigterm_stops_cleanly_with_final_stats() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = profile(dir.path(), "");
    let child = daefr_cmd()
        .args(["run", "--no-cache", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn daefr");
    // Wait until the loop is running (its first snapshot is written), then signal.
    let first = dir.path().join("png/frame-000000.png");
    let waiting = Instant::now();
    while !first.is_file() && waiting.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(first.is_file(), "the loop never showed a frame");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let started = Instant::now();
    let out = child.wait_with_output().expect("wait");
    assert!(started.elapsed() < Duration::from_secs(5), "slow shutdown");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("captured") && stdout.contains("shown"),
        "{stdout}"
    );
}

#[test]
fn config_error_names_the_file_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = profile(dir.path(), "colour = true\n");
    let out = daefr_cmd()
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .expect("run daefr");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("live.toml") && err.contains("colour") && err.contains("fps"),
        "{err}"
    );
}

#[test]
fn run_tells_systemd_it_is_ready_and_alive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = profile(dir.path(), "realtime = true");
    let socket_path = dir.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let out = daefr_cmd()
        .args(["run", "--no-cache", "--duration", "2.5", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &socket_path)
        .output()
        .expect("run daefr");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    socket.set_nonblocking(true).expect("nonblocking");
    let mut messages = Vec::new();
    let mut buf = [0u8; 256];
    while let Ok(n) = socket.recv(&mut buf) {
        messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(
        messages.first().map(String::as_str),
        Some("READY=1\nWATCHDOG=1"),
        "{messages:?}"
    );
    assert!(
        messages.iter().filter(|m| *m == "WATCHDOG=1").count() >= 1,
        "{messages:?}"
    );
}

#[test]
fn model_and_fidelity_on_the_command_line_override_the_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = profile(dir.path(), "");
    // a model file that does not exist: the command line's, named in the error
    let out = daefr_cmd()
        .args([
            "run",
            "--no-cache",
            "--frames",
            "2",
            "--model",
            "no-such-model.onnx",
            "--config",
        ])
        .arg(&config)
        .output()
        .expect("run daefr");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no-such-model.onnx"),
        "{}",
        stderr(&out)
    );
    let bad = daefr_cmd()
        .args(["run", "--frames", "2", "--fidelity", "1.5", "--config"])
        .arg(&config)
        .output()
        .expect("run daefr");
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("1.5"), "{}", stderr(&bad));
    let ok = daefr_cmd()
        .args([
            "run",
            "--no-cache",
            "--frames",
            "3",
            "--fidelity",
            "1",
            "--config",
        ])
        .arg(&config)
        .output()
        .expect("run daefr");
    assert!(ok.status.success(), "{}", stderr(&ok));
}

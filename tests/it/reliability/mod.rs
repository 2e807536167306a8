//! Issue 11 and issue 21, "never lose a user's file, never hang, never trust a bad model": one
//! test per defect of the bad-input runs, through the binary where the user met it, grouped by
//! subject. Files are generated here; the shared helpers are below.

use crate::util::*;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use daefr::capture::{DirectorySource, FrameSource, SyntheticSource, Y4mSource};
use daefr::display::MemoryDisplay;
use daefr::live::{run_live, LiveStages, LiveStats, TemplateCompositor};
use daefr::model::{LoadOptions, Restorer};
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
    Result<LiveStats, daefr::live::LiveError>,
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

mod files;
mod folders;
mod limits;
mod models;
mod stops;

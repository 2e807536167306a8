//! Helpers shared by every integration test: paths into the repository, the bundled fixtures, and
//! running the `daefr` binary with a clean environment.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use daefr::detect::{detector_path, BlazeFace, DetectorKind, DetectorOptions};
use image::RgbImage;

/// `path` (relative to the repository root) as an absolute path.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// [`repo`] as a command-line argument.
pub fn repo_arg(path: &str) -> String {
    s(&repo(path))
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> String {
    p.display().to_string()
}

/// The committed public-domain portrait (512x512, one face), read the way the runtime reads images.
pub fn astronaut() -> RgbImage {
    daefr::image_io::read_rgb(&repo("tests/fixtures/astronaut.png"))
        .expect("tests/fixtures/astronaut.png")
}

/// The bundled short-range BlazeFace detector with default options.
pub fn short_range_detector() -> BlazeFace {
    let path = detector_path(DetectorKind::ShortRange)
        .expect("bundled BlazeFace model under models/blazeface/");
    BlazeFace::load(&path, &DetectorOptions::default()).expect("BlazeFace loads")
}

/// The `daefr` binary with `RUST_LOG` and `DAEFR_MODEL` removed, so the developer's shell never
/// changes what a test sees.
pub fn daefr_cmd() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_daefr"));
    cmd.env_remove("RUST_LOG").env_remove("DAEFR_MODEL");
    cmd
}

/// Runs `daefr args...` (see [`daefr_cmd`]) to completion.
pub fn daefr(args: &[&str]) -> Output {
    daefr_cmd().args(args).output().expect("run daefr")
}

/// A process's standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a one-line message that starts with `path`, and that the error says it concerns it.
pub fn assert_names_file(err: &daefr::Error, path: &Path) {
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("{}: ", path.display())),
        "message does not start with the file: {msg}"
    );
    assert!(!msg.contains('\n'), "not one line: {msg}");
    assert_eq!(err.path(), Some(path), "{err:?}");
}

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

/// A copy of the ONNX model `src` in `dir` with one more metadata entry `key` = `value`. A
/// protobuf message may be extended by appending fields, so this appends one `metadata_props`
/// entry (ModelProto field 14, a StringStringEntryProto of key = 1, value = 2) to the file's bytes.
pub fn onnx_with_metadata(src: &Path, dir: &Path, key: &str, value: &str) -> PathBuf {
    fn varint(mut n: usize, out: &mut Vec<u8>) {
        while n >= 0x80 {
            out.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }
    fn field(tag: u8, bytes: &[u8], out: &mut Vec<u8>) {
        out.push(tag);
        varint(bytes.len(), out);
        out.extend_from_slice(bytes);
    }
    let mut entry = Vec::new();
    field((1 << 3) | 2, key.as_bytes(), &mut entry);
    field((2 << 3) | 2, value.as_bytes(), &mut entry);
    let mut bytes = std::fs::read(src).expect("read model");
    field((14 << 3) | 2, &entry, &mut bytes);
    let out = dir.join(src.file_name().expect("file name"));
    std::fs::write(&out, bytes).expect("write model");
    out
}

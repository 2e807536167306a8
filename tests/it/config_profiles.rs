//! Every committed board profile loads; broken profiles fail with the file, field and allowed values.

use std::path::{Path, PathBuf};

use daefr::config::{Config, DisplayKind, SourceKind};

fn profiles() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware-config");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("firmware-config/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_committed_profile_loads() {
    let files = profiles();
    let names: Vec<String> = files
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    for wanted in [
        "rpi4",
        "rpi5",
        "jetson-orin-nano",
        "desktop",
        "headless-demo",
    ] {
        assert!(
            names.iter().any(|n| n == wanted),
            "missing {wanted}.toml in {names:?}"
        );
    }
    for file in &files {
        if let Err(e) = Config::load(file) {
            panic!("{e}");
        }
    }
}

#[test]
fn headless_demo_needs_no_camera_and_no_display() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware-config/headless-demo.toml");
    let config = Config::load(&path).expect("headless demo");
    assert_eq!(config.source.kind, SourceKind::Synthetic);
    assert!(matches!(
        config.display.kind,
        DisplayKind::Png | DisplayKind::None
    ));
}

fn error_for(text: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, text).expect("write");
    match Config::load(&path) {
        Ok(c) => panic!("accepted: {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn unknown_fields_are_refused_with_the_allowed_names() {
    let e = error_for("[source]\nkind = \"synthetic\"\n\n[pipeline]\nmax_face = 2\n");
    assert!(e.contains("broken.toml"), "{e}");
    assert!(e.contains("max_face"), "{e}");
    assert!(e.contains("max_faces"), "{e}");
    let e = error_for("[source]\nkind = \"synthetic\"\n[screen]\nkind = \"png\"\n");
    assert!(e.contains("screen") && e.contains("display"), "{e}");
}

#[test]
fn bad_values_name_the_field_and_the_allowed_values() {
    let e = error_for("[source]\nkind = \"synthetic\"\n[display]\nkind = \"hdmi\"\n");
    assert!(
        e.contains("hdmi") && e.contains("framebuffer") && e.contains("png"),
        "{e}"
    );
    let e = error_for("[source]\nkind = \"synthetic\"\n[model]\nrestore_workers = 9\n");
    assert!(
        e.contains("model.restore_workers") && e.contains("1..=4"),
        "{e}"
    );
    let e = error_for("[source]\nkind = \"synthetic\"\n[display]\nkind = \"png\"\n");
    assert!(e.contains("display.png_dir"), "{e}");
    let e = error_for("[source]\nkind = \"video\"\n");
    assert!(e.contains("source.path"), "{e}");
    let e = error_for("[source]\nkind = \"synthetic\"\nwidth = \"wide\"\n");
    assert!(e.contains("width") && e.contains("u32"), "{e}");
}

#[test]
fn missing_file_names_the_file() {
    let e = Config::load(Path::new("firmware-config/nope.toml"))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("firmware-config/nope.toml"), "{e}");
}

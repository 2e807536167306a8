//! Display sinks: PNG snapshots, the headless fallback when the framebuffer is missing.

use std::path::PathBuf;

use daefr::config::{DisplayConfig, DisplayKind, OnMissingDisplay};
use daefr::display::{open_display, DisplaySink, Overlay, PngSnapshots};
use image::{Rgb, RgbImage};

fn config(
    kind: DisplayKind,
    on_missing: OnMissingDisplay,
    png_dir: Option<PathBuf>,
) -> DisplayConfig {
    DisplayConfig {
        kind,
        device: PathBuf::from("/nonexistent/fb7"),
        png_dir,
        png_every: 2,
        on_missing,
    }
}

#[test]
fn png_snapshots_every_n_frames_with_overlays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sink = PngSnapshots::new(dir.path().to_path_buf(), 2);
    let frame = RgbImage::from_pixel(80, 60, Rgb([90, 120, 150]));
    let overlay = Overlay {
        lines: vec!["30.0 fps".into()],
        ..Overlay::default()
    };
    for _ in 0..5 {
        sink.show(&frame, &overlay).expect("show");
    }
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["frame-000000.png", "frame-000002.png", "frame-000004.png"]
    );
    let saved = image::open(dir.path().join("frame-000002.png"))
        .expect("png")
        .to_rgb8();
    assert_eq!(saved.get_pixel(70, 50).0, [90, 120, 150]);
    assert!(
        saved.pixels().any(|p| p.0 == [255, 255, 255]),
        "overlay text in the snapshot"
    );
}

#[test]
fn missing_framebuffer_falls_back_to_headless_or_exits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fallback = open_display(&config(
        DisplayKind::Framebuffer,
        OnMissingDisplay::Headless,
        Some(dir.path().to_path_buf()),
    ))
    .expect("headless fallback");
    assert!(
        fallback.describe().contains("PNG"),
        "{}",
        fallback.describe()
    );
    let err = open_display(&config(
        DisplayKind::Framebuffer,
        OnMissingDisplay::Exit,
        None,
    ))
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(err.contains("/nonexistent/fb7"), "{err}");
}

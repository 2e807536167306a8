//! Display sinks: PNG snapshots, the headless fallback when the framebuffer is missing.

use std::path::PathBuf;

use daefr::display::{
    open_display, render, DisplayOptions, DisplaySink, OnMissing, Overlay, PngSnapshots, RgbCanvas,
    SinkKind,
};
use image::{Rgb, RgbImage};

fn options(kind: SinkKind, on_missing: OnMissing, png_dir: Option<PathBuf>) -> DisplayOptions {
    DisplayOptions {
        kind,
        device: PathBuf::from("/nonexistent/fb7"),
        png_dir,
        png_every: 2,
        png_keep: 1000,
        on_missing,
    }
}

#[test]
fn png_snapshots_every_n_frames_with_overlays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut sink = PngSnapshots::new(dir.path().to_path_buf(), 2, 1000);
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
        ["frame-000000.png", "frame-000001.png", "frame-000002.png"]
    );
    let saved = image::open(dir.path().join("frame-000001.png"))
        .expect("png")
        .to_rgb8();
    // The snapshot is exactly what `render` draws: the PNG is lossless.
    let mut expected = RgbImage::new(80, 60);
    let Ok(()) = render(&mut RgbCanvas(&mut expected), &frame, &overlay);
    assert!(
        saved == expected,
        "snapshot differs from the rendered frame"
    );
    // The text ("30.0 fps": 8 cells of 6x10 at (4, 4)) is black and white; the rest is the frame.
    let mut glyph_pixels = 0;
    for (x, y, p) in saved.enumerate_pixels() {
        if (4..4 + 8 * 6).contains(&x) && (4..14).contains(&y) {
            assert!(
                p.0 == [0, 0, 0] || p.0 == [255, 255, 255],
                "({x}, {y}) {p:?}"
            );
            glyph_pixels += usize::from(p.0 == [255, 255, 255]);
        } else {
            assert_eq!(p.0, [90, 120, 150], "({x}, {y})");
        }
    }
    assert_eq!(glyph_pixels, 84, "white glyph pixels of \"30.0 fps\"");
}

#[test]
fn missing_framebuffer_falls_back_to_headless_or_exits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fallback = open_display(&options(
        SinkKind::Framebuffer,
        OnMissing::Headless,
        Some(dir.path().to_path_buf()),
    ))
    .expect("headless fallback");
    assert!(
        fallback.describe().contains("PNG"),
        "{}",
        fallback.describe()
    );
    let err = open_display(&options(SinkKind::Framebuffer, OnMissing::Exit, None))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("/nonexistent/fb7"), "{err}");
}

#[test]
fn profile_display_section_converts_to_options() {
    let config = daefr::config::Config::parse(
        "[source]\nkind = \"synthetic\"\n[display]\nkind = \"png\"\npng_dir = \"/tmp/snaps\"\npng_every = 5\non_missing = \"exit\"\n",
        std::path::Path::new("board.toml"),
    )
    .expect("profile");
    assert_eq!(
        DisplayOptions::from(&config.display),
        DisplayOptions {
            kind: SinkKind::Png,
            device: PathBuf::from("/dev/fb0"),
            png_dir: Some(PathBuf::from("/tmp/snaps")),
            png_every: 5,
            png_keep: daefr::config::DEFAULT_PNG_KEEP,
            on_missing: OnMissing::Exit,
        }
    );
}

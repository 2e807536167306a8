//! Detection on a 640x480 frame and align + paste per face (one thread).
//!
//! Run: `cargo bench --bench detect`. Figures go to BENCHMARKS.md.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use daefr::align::{align_face, paste_face};
use daefr::detect::{detector_path, BlazeFace, DetectorKind, DetectorOptions, FaceDetector};
use daefr::geometry::Template;
use image::{imageops, Rgb, RgbImage};

const TEMPLATE: Template = Template {
    right_eye: [44.1, 58.0],
    left_eye: [83.9, 58.0],
    nose_tip: [64.0, 80.2],
    mouth_center: [64.0, 97.5],
};

/// The portrait scaled to 360x360 in a 640x480 frame (a webcam-like frame with one face).
fn frame() -> RgbImage {
    let portrait =
        image::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/astronaut.png"))
            .map(|i| i.to_rgb8())
            .unwrap_or_else(|_| RgbImage::new(512, 512));
    let portrait = imageops::resize(&portrait, 360, 360, imageops::FilterType::Triangle);
    let mut frame = RgbImage::from_pixel(640, 480, Rgb([60, 60, 60]));
    imageops::replace(&mut frame, &portrait, 140, 60);
    frame
}

fn bench(c: &mut Criterion) {
    let frame = frame();
    // The detector's letterbox resize alone (part of detect_640x480_128).
    c.bench_function("resize_640x480_to_128x96", |b| {
        b.iter(|| imageops::resize(black_box(&frame), 128, 96, imageops::FilterType::Triangle))
    });
    for kind in [DetectorKind::ShortRange, DetectorKind::LongRange] {
        let Some(path) = detector_path(kind) else {
            eprintln!("no bundled {kind:?} detector; skipped");
            continue;
        };
        let Ok(mut detector) = BlazeFace::load(&path, &DetectorOptions::default()) else {
            eprintln!("cannot load {}; skipped", path.display());
            continue;
        };
        let name = format!("detect_640x480_{}", detector.input_size());
        c.bench_function(&name, |b| b.iter(|| detector.detect(black_box(&frame))));
    }

    let Some(face) = detector_path(DetectorKind::ShortRange)
        .and_then(|p| BlazeFace::load(&p, &DetectorOptions::default()).ok())
        .and_then(|mut d| d.detect(&frame).ok())
        .and_then(|faces| faces.first().copied())
    else {
        eprintln!("no face found in the bench frame; align/paste skipped");
        return;
    };
    eprintln!("bench face: {:.0} px wide", face.width());
    c.bench_function("align_128", |b| {
        b.iter(|| align_face(black_box(&frame), &face, &TEMPLATE, 128))
    });
    let Ok(aligned) = align_face(&frame, &face, &TEMPLATE, 128) else {
        return;
    };
    let mut out = frame.clone();
    c.bench_function("paste_128", |b| {
        b.iter(|| paste_face(black_box(&mut out), &aligned.crop, &aligned))
    });
    c.bench_function("align_plus_paste_128", |b| {
        b.iter(|| {
            let a = align_face(black_box(&frame), &face, &TEMPLATE, 128).ok();
            if let Some(a) = a {
                paste_face(&mut out, &a.crop, &a);
            }
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

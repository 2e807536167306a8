//! The live loop with the real stages: BlazeFace on the synthetic frames, the tiny DAEFR model
//! (tests/fixtures/daefr-tiny.onnx, random weights: fast, and its output differs from its input),
//! real alignment and paste.

use crate::util::*;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use daefr::capture::SyntheticSource;
use daefr::detect::{BlazeFace, DetectorOptions};
use daefr::display::MemoryDisplay;
use daefr::live::{
    run_live, DetectorStage, FaceCompositor, LiveOptions, LiveStages, ModelRestorer, OverlayFlags,
};
use daefr::model::{LoadOptions, Restorer};

#[test]
fn blazeface_and_the_tiny_model_restore_faces_on_the_live_output() {
    let detector = BlazeFace::load(
        &repo("models/blazeface/face_detection_front_128x128_barracuda.onnx"),
        &DetectorOptions::default(),
    )
    .expect("bundled BlazeFace");
    let restorer = ModelRestorer::new(
        Restorer::load(
            &repo("tests/fixtures/daefr-tiny.onnx"),
            &LoadOptions {
                threads: None,
                use_cache: false,
                ..LoadOptions::default()
            },
        )
        .expect("tiny model"),
    );
    let compositor: Arc<dyn FaceCompositor> = Arc::new(restorer.compositor());
    let (display, frames) = MemoryDisplay::new(1);
    let stages = LiveStages {
        source: Box::new(SyntheticSource::new(320, 240, 1, 5, Some(60.0)).expect("source")),
        detector: Box::new(DetectorStage(Box::new(detector))),
        restorers: vec![Box::new(restorer)],
        compositor,
        display: Box::new(display),
    };
    let mut options = LiveOptions {
        overlay: OverlayFlags::NONE,
        max_frames: Some(40),
        max_duration: Some(Duration::from_secs(120)),
        ..LiveOptions::default()
    };
    options.tracking.fps = 60.0;
    let stats = run_live(stages, options, Arc::new(AtomicBool::new(false))).expect("live run");
    assert_eq!(stats.frames_shown + stats.frames_dropped, 40);
    assert!(
        stats.faces_detected > 0,
        "BlazeFace found no face: {stats:?}"
    );
    assert!(stats.faces_restored > 0, "{stats:?}");
    assert!(stats.frames_with_restored_faces > 0, "{stats:?}");

    // The last frame (seq 39) is always shown; compare its face with the unrestored frame.
    let reference = SyntheticSource::new(320, 240, 1, 5, None).expect("source");
    let (original, truth) = reference.render(39);
    let shown = frames.frames();
    let (last, _) = shown.last().expect("a shown frame");
    let [x0, y0, x1, y1] = truth[0].bbox;
    let mut face_diff = 0u64;
    let mut count = 0u64;
    for y in (y0 + 0.25 * (y1 - y0)) as u32..(y1 - 0.25 * (y1 - y0)) as u32 {
        for x in (x0 + 0.25 * (x1 - x0)) as u32..(x1 - 0.25 * (x1 - x0)) as u32 {
            let (a, b) = (last.get_pixel(x, y).0, original.get_pixel(x, y).0);
            face_diff += a
                .iter()
                .zip(b)
                .map(|(p, q)| p.abs_diff(q) as u64)
                .sum::<u64>();
            count += 3;
        }
    }
    let mean = face_diff as f64 / count.max(1) as f64;
    assert!(mean > 5.0, "face region unchanged (mean |diff| {mean:.2})");
    // Far from the face nothing was pasted.
    assert_eq!(last.get_pixel(2, 2), original.get_pixel(2, 2));
}

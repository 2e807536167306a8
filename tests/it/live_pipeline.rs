//! End-to-end tests of the live loop: synthetic source -> ground-truth detector -> painting
//! restorer (real alignment and paste) -> in-memory display.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common_live::*;
use daefr::capture::SyntheticSource;
use daefr::display::MemoryDisplay;
use daefr::live::{run_live, LiveStages, OverlayFlags, TemplateCompositor, TruthDetector};

fn synthetic(faces: u32, fps: Option<f32>) -> SyntheticSource {
    SyntheticSource::new(320, 240, faces, 3, fps).expect("synthetic source")
}

#[test]
fn every_frame_is_shown_or_counted_as_dropped() {
    // Unpaced source and a slow restorer: capture outruns everything, frames must be dropped,
    // never queued, and every one accounted for.
    let (stats, frames) = run_with(
        synthetic(2, None),
        options(Some(150), no_overlay()),
        Duration::from_millis(15),
        0,
    );
    assert_eq!(stats.frames_captured, 150);
    assert_eq!(stats.frames_shown + stats.frames_dropped, 150, "{stats:?}");
    assert_eq!(
        stats.frames_dropped,
        stats.dropped_before_detect + stats.dropped_before_display + stats.display_errors
    );
    assert_eq!(frames.shown(), stats.frames_shown);
    assert!(stats.frames_shown >= 1);
}

#[test]
fn restored_faces_appear_on_every_frame_after_the_first_restore() {
    let source = synthetic(2, Some(120.0));
    let reference = synthetic(2, None);
    let (stats, frames) = run_with(
        source,
        options(Some(60), no_overlay()),
        Duration::from_millis(2),
        1,
    );
    assert!(stats.faces_restored >= 2, "{stats:?}");
    assert!(stats.frames_with_restored_faces > 0);
    // The last captured frame (seq 59) is always shown: nothing newer can replace it.
    let shown = frames.frames();
    let (last, _) = shown.last().expect("a shown frame");
    let (original, truth) = reference.render(59);
    assert_eq!(truth.len(), 2);
    for face in &truth {
        let after = painted_share(last, face);
        let before = painted_share(&original, face);
        assert!(before < 0.05, "input already painted? {before}");
        assert!(after > 0.8, "restored face not on the output: {after}");
    }
    // Outside the faces the frame is untouched.
    assert_eq!(last.get_pixel(2, 2), original.get_pixel(2, 2));
}

#[test]
fn max_faces_limits_restored_faces_to_the_biggest() {
    let mut opts = options(Some(40), no_overlay());
    opts.max_faces = 1;
    let reference = synthetic(3, None);
    let (_, frames) = run_with(synthetic(3, Some(120.0)), opts, Duration::from_millis(1), 1);
    let shown = frames.frames();
    let (last, _) = shown.last().expect("a shown frame");
    let (_, truth) = reference.render(39);
    let area =
        |f: &daefr::capture::SyntheticFace| (f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]);
    let biggest = truth
        .iter()
        .max_by(|a, b| area(a).total_cmp(&area(b)))
        .expect("faces");
    let painted: Vec<f32> = truth.iter().map(|f| painted_share(last, f)).collect();
    assert_eq!(
        painted.iter().filter(|p| **p > 0.8).count(),
        1,
        "{painted:?}"
    );
    assert!(painted_share(last, biggest) > 0.8, "{painted:?}");
}

#[test]
fn overlays_are_drawn() {
    let overlay = OverlayFlags {
        fps: true,
        timings: true,
        face_boxes: true,
        split_view: true,
    };
    let reference = synthetic(1, None);
    let (_, frames) = run_with(
        synthetic(1, Some(120.0)),
        options(Some(30), overlay),
        Duration::from_millis(1),
        1,
    );
    let shown = frames.frames();
    let (last, drawn) = shown.last().expect("a shown frame");
    assert!(drawn.lines.iter().any(|l| l.contains("fps")), "{drawn:?}");
    assert!(
        drawn.lines.iter().any(|l| l.contains("detect")),
        "{drawn:?}"
    );
    assert_eq!(drawn.boxes.len(), 1);
    assert_eq!(drawn.split_x, Some(160));
    // White glyphs on black in the top-left corner, where the input has neither.
    let corner = |img: &image::RgbImage, colour: [u8; 3]| {
        (4..120).any(|x| (4..30).any(|y| img.get_pixel(x, y).0 == colour))
    };
    let (original, truth) = reference.render(29);
    assert!(corner(last, [255, 255, 255]) && corner(last, [0, 0, 0]));
    assert!(!corner(&original, [0, 0, 0]));
    // Split view: the left half is the unrestored input.
    let face = truth[0];
    let row = ((face.bbox[1] + face.bbox[3]) / 2.0) as u32;
    let left =
        (face.bbox[0] as u32 + 2..150).filter(|x| last.get_pixel(*x, row).0 == [255, 0, 255]);
    assert_eq!(left.count(), 0, "left half must show the input");
    let right = (165..(face.bbox[2] as u32).min(319))
        .filter(|x| last.get_pixel(*x, row).0 == [255, 0, 255]);
    assert!(right.count() > 5, "right half must show the restored face");
}

#[test]
fn camera_errors_show_no_signal_and_the_loop_resumes() {
    let reconnects = Arc::new(AtomicU64::new(0));
    let (inner, truth) = synthetic(1, Some(200.0)).with_truth();
    let source = FlakySource {
        inner,
        calls: 0,
        fail_from: 10,
        fail_to: 14,
        reconnects: reconnects.clone(),
    };
    let (display, frames) = MemoryDisplay::new(1000);
    let stages = LiveStages {
        source: Box::new(source),
        detector: Box::new(TruthDetector(truth)),
        restorers: vec![Box::new(PaintRestorer {
            delay: Duration::from_millis(1),
            count: Arc::new(AtomicU64::new(0)),
        })],
        compositor: Arc::new(TemplateCompositor {
            template: template(),
            size: SIZE,
        }),
        display: Box::new(display),
    };
    let stats = run_live(
        stages,
        options(Some(40), no_overlay()),
        Arc::new(AtomicBool::new(false)),
    )
    .expect("live run");
    assert_eq!(stats.capture_errors, 4);
    assert_eq!(reconnects.load(Ordering::SeqCst), 4);
    assert_eq!(stats.frames_captured, 40, "frames resume after the errors");
    assert_eq!(stats.frames_shown + stats.frames_dropped, 40);
    assert!(stats.no_signal_screens >= 1);
    let shown = frames.frames();
    let first_no_signal = shown.iter().position(|(_, o)| o.no_signal.is_some());
    let Some(at) = first_no_signal else {
        panic!("no NO SIGNAL screen among {} frames", shown.len())
    };
    let (screen, overlay) = &shown[at];
    assert!(overlay
        .no_signal
        .as_deref()
        .is_some_and(|d| d.contains("device unplugged")));
    assert!(
        screen.pixels().any(|p| p.0 == [255, 255, 255]),
        "NO SIGNAL text drawn"
    );
    assert!(
        shown[at..].iter().any(|(_, o)| o.no_signal.is_none()),
        "frames are shown again after the camera returns"
    );
}

#[test]
fn stop_flag_shuts_down_cleanly_with_final_stats() {
    let (display, frames) = MemoryDisplay::new(0);
    let stop = Arc::new(AtomicBool::new(false));
    let (source, truth) = synthetic(1, Some(60.0)).with_truth();
    let stages = LiveStages {
        source: Box::new(source),
        detector: Box::new(TruthDetector(truth)),
        restorers: vec![Box::new(PaintRestorer {
            delay: Duration::from_millis(50),
            count: Arc::new(AtomicU64::new(0)),
        })],
        compositor: Arc::new(TemplateCompositor {
            template: template(),
            size: SIZE,
        }),
        display: Box::new(display),
    };
    let mut opts = options(None, no_overlay());
    opts.max_duration = None;
    let stopper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            stop.store(true, Ordering::SeqCst);
            Instant::now()
        })
    };
    let stats = run_live(stages, opts, stop).expect("live run");
    let stopped_at = stopper.join().expect("stopper");
    assert!(
        stopped_at.elapsed() < Duration::from_secs(2),
        "shutdown took too long"
    );
    assert!(stats.frames_captured > 5);
    assert_eq!(
        stats.frames_shown + stats.frames_dropped,
        stats.frames_captured
    );
    assert_eq!(frames.shown(), stats.frames_shown);
    assert!(stats.wall_s > 0.3);
}

//! Live-loop benchmark (not a test): a 640x480 synthetic source at 30 fps through the whole loop
//! (BlazeFace, the default DAEFR model, paste, overlays, an in-memory display), with 1 and 3
//! faces, then a 10,000-frame soak that samples RSS.
//!
//!     cargo bench --bench live                      # 1 and 3 faces, 300 frames each, + soak
//!     cargo bench --bench live -- --frames 150 --no-soak
//!     cargo bench --bench live -- --truth           # ground-truth faces instead of BlazeFace
//!     cargo bench --bench live -- --workers 2 --fps 10 --no-soak   # 2 restore workers, 10 fps source
//!     cargo bench --bench live -- --frames 10 --soak-frames 100000 --soak-fps 120   # a longer soak
//!
//! Prints one JSON object per scenario (the same fields as `daefr run --stats-json`).
//!
//! The display stage alone (no model; criterion): a 640x480 frame + overlay rendered into an
//! `RgbCanvas`, the work every sink does per shown frame.
//!
//!     cargo bench --bench live -- --display --warm-up-time 1 --measurement-time 3 [FILTER]

use std::hint::black_box;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use daefr::capture::SyntheticSource;
use daefr::detect::{default_detector_path, BlazeFace, DetectorOptions};
use daefr::display::{render, FaceBox, MemoryDisplay, Overlay, RgbCanvas};
use daefr::live::{
    run_live, DetectorStage, FaceCompositor, FaceRestorer, FrameDetector, LiveOptions, LiveStages,
    LiveStats, ModelRestorer, OverlayFlags, TruthDetector,
};
use daefr::model::{require_default_model, LoadOptions, Restorer};
use image::{Rgb, RgbImage};

struct Scenario {
    name: &'static str,
    faces: u32,
    frames: u64,
    fps: f32,
}

/// Runs one scenario with `workers` restore workers sharing one single-threaded plan (each with
/// its own run state, as `daefr run` makes them).
fn run(
    scenario: &Scenario,
    truth: bool,
    workers: usize,
) -> Result<LiveStats, Box<dyn std::error::Error>> {
    let model = require_default_model()?;
    let mut restorers: Vec<Box<dyn FaceRestorer>> = Vec::new();
    let mut compositor: Option<Arc<dyn FaceCompositor>> = None;
    for plan in Restorer::load(&model, &LoadOptions::default())?.with_others(workers) {
        let restorer = ModelRestorer::new(plan);
        compositor.get_or_insert_with(|| Arc::new(restorer.compositor()));
        restorers.push(Box::new(restorer));
    }
    let compositor = compositor.ok_or("no restore worker")?;
    let (source, feed) =
        SyntheticSource::new(640, 480, scenario.faces, 1, Some(scenario.fps))?.with_truth();
    let detector: Box<dyn FrameDetector> = if truth {
        Box::new(TruthDetector(feed))
    } else {
        let path = default_detector_path(daefr::detect::DetectorKind::ShortRange)?;
        Box::new(DetectorStage(Box::new(BlazeFace::load(
            &path,
            &DetectorOptions::default(),
        )?)))
    };
    let (display, _frames) = MemoryDisplay::new(0);
    let stages = LiveStages {
        source: Box::new(source),
        detector,
        restorers,
        compositor,
        display: Box::new(display),
    };
    let mut options = LiveOptions {
        overlay: OverlayFlags {
            face_boxes: true,
            ..OverlayFlags::default()
        },
        max_frames: Some(scenario.frames),
        max_duration: Some(Duration::from_secs(3600)),
        ..LiveOptions::default()
    };
    options.tracking.fps = scenario.fps;
    Ok(run_live(stages, options, Arc::new(AtomicBool::new(false)))?)
}

/// The value after `flag` parsed as seconds, if given.
fn seconds_arg(args: &[String], flag: &str) -> Option<Duration> {
    let i = args.iter().position(|a| a == flag)?;
    let v: f64 = args.get(i + 1)?.parse().ok()?;
    (v.is_finite() && v > 0.0).then(|| Duration::from_secs_f64(v))
}

/// `--display`: criterion benchmarks of the display stage (render frame + overlay into an
/// `RgbCanvas`), no model needed. Reads `--warm-up-time S`, `--measurement-time S` and an optional
/// name filter (the first argument that is not a flag or a flag's value).
fn display_benches(args: &[String]) {
    let mut c = Criterion::default();
    if let Some(d) = seconds_arg(args, "--warm-up-time") {
        c = c.warm_up_time(d);
    }
    if let Some(d) = seconds_arg(args, "--measurement-time") {
        c = c.measurement_time(d);
    }
    let with_value = ["--warm-up-time", "--measurement-time"];
    let filter = args
        .iter()
        .enumerate()
        .skip(1)
        .find(|(i, a)| !a.starts_with("--") && !with_value.contains(&args[i - 1].as_str()));
    if let Some((_, f)) = filter {
        c = c.with_filter(f.as_str());
    }

    // A 640x480 frame (a gradient, so no row is uniform) with the live loop's default overlay:
    // FPS and timing lines and two face boxes.
    let frame = RgbImage::from_fn(640, 480, |x, y| Rgb([x as u8, y as u8, (x ^ y) as u8]));
    let overlay = Overlay {
        lines: vec![
            " 29.8 fps  faces 2  dropped 0".into(),
            "detect 21 ms  restore 310 ms/face  show 3 ms".into(),
            "latency 180 ms".into(),
        ],
        boxes: vec![
            FaceBox {
                bbox: [120.0, 100.0, 260.0, 280.0],
                restored: true,
            },
            FaceBox {
                bbox: [380.0, 120.0, 500.0, 270.0],
                restored: false,
            },
        ],
        split_x: None,
        no_signal: None,
    };
    let split = Overlay {
        split_x: Some(320),
        ..overlay.clone()
    };
    let no_signal = Overlay {
        no_signal: Some("camera: no such device; retrying in 1.0 s".into()),
        ..Overlay::default()
    };

    let mut group = c.benchmark_group("display");
    let mut same = RgbImage::new(640, 480);
    group.bench_function("compose_640x480_overlay", |b| {
        b.iter(|| {
            render(
                &mut RgbCanvas(&mut same),
                black_box(&frame),
                black_box(&overlay),
            )
        })
    });
    group.bench_function("compose_640x480_split_view", |b| {
        b.iter(|| {
            render(
                &mut RgbCanvas(&mut same),
                black_box(&frame),
                black_box(&split),
            )
        })
    });
    // A larger screen than the frame (HDMI 800x600): clear to black, then the centred frame.
    let mut larger = RgbImage::new(800, 600);
    group.bench_function("compose_640x480_centred_in_800x600", |b| {
        b.iter(|| {
            render(
                &mut RgbCanvas(&mut larger),
                black_box(&frame),
                black_box(&overlay),
            )
        })
    });
    group.bench_function("no_signal_640x480", |b| {
        b.iter(|| {
            render(
                &mut RgbCanvas(&mut same),
                black_box(&frame),
                black_box(&no_signal),
            )
        })
    });
    group.finish();
    c.final_summary();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--display") {
        display_benches(&args);
        return;
    }
    let truth = args.iter().any(|a| a == "--truth");
    let soak = !args.iter().any(|a| a == "--no-soak");
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    let frames = value("--frames")
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let workers: usize = value("--workers").and_then(|v| v.parse().ok()).unwrap_or(1);
    let fps: f32 = value("--fps").and_then(|v| v.parse().ok()).unwrap_or(30.0);
    let mut scenarios = vec![
        Scenario {
            name: "1 face",
            faces: 1,
            frames,
            fps,
        },
        Scenario {
            name: "3 faces",
            faces: 3,
            frames,
            fps,
        },
    ];
    if soak {
        scenarios.push(Scenario {
            name: "soak, 1 face",
            faces: 1,
            frames: value("--soak-frames")
                .and_then(|v| v.parse().ok())
                .unwrap_or(10_000),
            fps: value("--soak-fps")
                .and_then(|v| v.parse().ok())
                .unwrap_or(60.0),
        });
    }
    for scenario in &scenarios {
        match run(scenario, truth, workers) {
            Ok(stats) => {
                let json = serde_json::to_string(&stats).unwrap_or_default();
                println!(
                    "{{\"scenario\":\"{}\",\"workers\":{workers},\"stats\":{json}}}",
                    scenario.name
                );
                eprintln!(
                    "{:>14}, {workers} worker(s): {:5.1} fps shown of {} captured, {:4.2} restored faces/s, restore {:4.0} ms/face, detect {:4.1} ms, display {:4.1} ms, latency mean {:4.0} ms p95 {:4.0} ms, peak RSS {:4.0} MB, RSS end {:4.0} MB",
                    scenario.name,
                    stats.display_fps,
                    stats.frames_captured,
                    stats.restored_faces_per_s,
                    stats.restore.mean_ms,
                    stats.detect.mean_ms,
                    stats.present.mean_ms,
                    stats.latency.mean_ms,
                    stats.latency.p95_ms,
                    stats.peak_rss_mb,
                    stats.rss_mb_end
                );
            }
            Err(e) => {
                eprintln!("{}: {e}", scenario.name);
                std::process::exit(1);
            }
        }
    }
}

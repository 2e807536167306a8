//! Live-loop benchmark (not a test): a 640x480 synthetic source at 30 fps through the whole loop
//! (BlazeFace, the default DAEFR model, paste, overlays, an in-memory display), with 1 and 3
//! faces, then a 10,000-frame soak that samples RSS.
//!
//!     cargo bench --bench live                      # 1 and 3 faces, 300 frames each, + soak
//!     cargo bench --bench live -- --frames 150 --no-soak
//!     cargo bench --bench live -- --truth           # ground-truth faces instead of BlazeFace
//!
//! Prints one JSON object per scenario (the same fields as `daefr run --stats-json`).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use daefr::capture::SyntheticSource;
use daefr::config::{FaultConfig, OverlayConfig, PipelineConfig};
use daefr::detect::{default_detector_path, BlazeFace, DetectorOptions};
use daefr::display::MemoryDisplay;
use daefr::model::{require_default_model, LoadOptions, Restorer};
use daefr::pipeline::{
    run_live, DetectorStage, FaceCompositor, FrameDetector, LiveOptions, LiveStages, LiveStats,
    ModelRestorer, TruthDetector,
};

struct Scenario {
    name: &'static str,
    faces: u32,
    frames: u64,
    fps: f32,
}

fn run(scenario: &Scenario, truth: bool) -> Result<LiveStats, Box<dyn std::error::Error>> {
    let model = require_default_model()?;
    let restorer = ModelRestorer::new(Restorer::load(&model, &LoadOptions::default())?);
    let compositor: Arc<dyn FaceCompositor> = Arc::new(restorer.compositor());
    let detector: Box<dyn FrameDetector> = if truth {
        Box::new(TruthDetector)
    } else {
        let path = default_detector_path().ok_or("bundled BlazeFace model not found")?;
        Box::new(DetectorStage(Box::new(BlazeFace::load(
            &path,
            &DetectorOptions::default(),
        )?)))
    };
    let (display, _frames) = MemoryDisplay::new(0);
    let stages = LiveStages {
        source: Box::new(SyntheticSource::new(
            640,
            480,
            scenario.faces,
            1,
            Some(scenario.fps),
        )?),
        detector,
        restorers: vec![Box::new(restorer)],
        compositor,
        display: Box::new(display),
    };
    let options = LiveOptions {
        pipeline: PipelineConfig::default(),
        overlay: OverlayConfig {
            fps: true,
            timings: true,
            face_boxes: true,
            split_view: false,
        },
        faults: FaultConfig::default(),
        min_score: 0.5,
        source_fps: scenario.fps,
        max_frames: Some(scenario.frames),
        max_duration: Some(Duration::from_secs(3600)),
    };
    Ok(run_live(stages, options, Arc::new(AtomicBool::new(false)))?)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let truth = args.iter().any(|a| a == "--truth");
    let soak = !args.iter().any(|a| a == "--no-soak");
    let frames = args
        .iter()
        .position(|a| a == "--frames")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut scenarios = vec![
        Scenario {
            name: "1 face",
            faces: 1,
            frames,
            fps: 30.0,
        },
        Scenario {
            name: "3 faces",
            faces: 3,
            frames,
            fps: 30.0,
        },
    ];
    if soak {
        scenarios.push(Scenario {
            name: "soak, 1 face",
            faces: 1,
            frames: 10_000,
            fps: 60.0,
        });
    }
    for scenario in &scenarios {
        match run(scenario, truth) {
            Ok(stats) => {
                let json = serde_json::to_string(&stats).unwrap_or_default();
                println!("{{\"scenario\":\"{}\",\"stats\":{json}}}", scenario.name);
                eprintln!(
                    "{:>14}: {:5.1} fps shown of {} captured, {:4.2} restored faces/s, restore {:4.0} ms/face, detect {:4.1} ms, latency mean {:4.0} ms p95 {:4.0} ms, peak RSS {:4.0} MB, RSS end {:4.0} MB",
                    scenario.name,
                    stats.display_fps,
                    stats.frames_captured,
                    stats.restored_faces_per_s,
                    stats.restore.mean_ms,
                    stats.detect.mean_ms,
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

//! Test doubles shared by the live-mode tests: a restorer that paints the aligned crop a flat
//! colour (so restored faces are easy to find on the output), a source that fails on cue.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use daefr::align::align_face;
use daefr::capture::{CaptureError, FrameSource, SyntheticFace, SyntheticSource};
use daefr::config::{FaultConfig, OverlayConfig, PipelineConfig};
use daefr::detect::Face;
use daefr::display::{MemoryDisplay, MemoryFrames};
use daefr::model::Template;
use daefr::pipeline::{
    run_live, FaceRestorer, LiveOptions, LiveStages, LiveStats, TemplateCompositor, TruthDetector,
};
use image::{Rgb, RgbImage};

/// The colour the fake restorer paints faces.
pub const PAINT: Rgb<u8> = Rgb([255, 0, 255]);
/// Crop size of the fake model.
pub const SIZE: u32 = 64;

/// A 64-px template shaped like a real one (eyes, nose, mouth).
pub fn template() -> Template {
    Template {
        right_eye: [22.0, 27.0],
        left_eye: [42.0, 27.0],
        nose_tip: [32.0, 38.0],
        mouth_center: [32.0, 48.0],
    }
}

/// Aligns like the real restorer, then paints the crop: the "restored" face is unmistakable.
pub struct PaintRestorer {
    /// Time each restore takes.
    pub delay: Duration,
    /// Restores done.
    pub count: Arc<AtomicU64>,
}

impl FaceRestorer for PaintRestorer {
    fn restore_face(&mut self, frame: &RgbImage, face: &Face) -> daefr::Result<RgbImage> {
        let aligned = align_face(frame, face, &template(), SIZE)?;
        std::thread::sleep(self.delay);
        self.count.fetch_add(1, Ordering::SeqCst);
        Ok(RgbImage::from_pixel(
            aligned.crop.width(),
            aligned.crop.height(),
            PAINT,
        ))
    }
}

/// Wraps a source and fails `next_frame` for calls `fail_from..fail_to` (camera unplugged).
pub struct FlakySource {
    pub inner: SyntheticSource,
    pub calls: u64,
    pub fail_from: u64,
    pub fail_to: u64,
    pub reconnects: Arc<AtomicU64>,
}

impl FrameSource for FlakySource {
    fn next_frame(&mut self) -> Result<RgbImage, CaptureError> {
        let call = self.calls;
        self.calls += 1;
        if (self.fail_from..self.fail_to).contains(&call) {
            return Err(CaptureError::Io {
                path: "/dev/video0".into(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "device unplugged"),
            });
        }
        self.inner.next_frame()
    }

    fn reconnect(&mut self) -> Result<(), CaptureError> {
        self.reconnects.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn last_truth(&self) -> Vec<SyntheticFace> {
        self.inner.last_truth()
    }

    fn describe(&self) -> String {
        "flaky synthetic".into()
    }
}

/// Options with every overlay off (pixel comparisons) unless `overlay` says otherwise.
pub fn options(max_frames: Option<u64>, overlay: OverlayConfig) -> LiveOptions {
    LiveOptions {
        pipeline: PipelineConfig::default(),
        overlay,
        faults: FaultConfig {
            retry_initial_ms: 5,
            retry_max_ms: 20,
        },
        min_score: 0.5,
        source_fps: 30.0,
        max_frames,
        max_duration: Some(Duration::from_secs(60)),
    }
}

/// No overlays at all.
pub fn no_overlay() -> OverlayConfig {
    OverlayConfig {
        fps: false,
        timings: false,
        face_boxes: false,
        split_view: false,
    }
}

/// Runs `source` through the loop with the painting restorer and an in-memory display.
pub fn run_with(
    source: Box<dyn FrameSource>,
    options: LiveOptions,
    delay: Duration,
    keep: usize,
) -> (LiveStats, MemoryFrames) {
    let (display, frames) = MemoryDisplay::new(keep);
    let stages = LiveStages {
        source,
        detector: Box::new(TruthDetector),
        restorers: vec![Box::new(PaintRestorer {
            delay,
            count: Arc::new(AtomicU64::new(0)),
        })],
        compositor: Arc::new(TemplateCompositor {
            template: template(),
            size: SIZE,
        }),
        display: Box::new(display),
    };
    let stats = run_live(stages, options, Arc::new(AtomicBool::new(false))).expect("live run");
    (stats, frames)
}

/// Share of pixels in the middle of `face` (eyes to mouth) that are close to `PAINT`.
pub fn painted_share(image: &RgbImage, face: &SyntheticFace) -> f32 {
    let [x0, y0, x1, y1] = face.bbox;
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let r = (x1 - x0) * 0.15;
    let mut painted = 0;
    let mut total = 0;
    for y in (cy - r) as u32..(cy + r) as u32 {
        for x in (cx - r) as u32..(cx + r) as u32 {
            if let Some(p) = image.get_pixel_checked(x, y) {
                total += 1;
                let d: i32 =
                    p.0.iter()
                        .zip(PAINT.0)
                        .map(|(a, b)| (*a as i32 - b as i32).abs())
                        .sum();
                if d < 60 {
                    painted += 1;
                }
            }
        }
    }
    painted as f32 / total.max(1) as f32
}

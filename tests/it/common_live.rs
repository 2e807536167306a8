//! Test doubles shared by the live-mode tests: a restorer that paints the aligned crop a flat
//! colour (so restored faces are easy to find on the output), a source that fails on cue.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use daefr::align::{align_face, RestoredCrop};
use daefr::capture::{CaptureError, Frame, FrameSource, SyntheticFace, SyntheticSource};
use daefr::detect::Face;
use daefr::display::{MemoryDisplay, MemoryFrames};
use daefr::geometry::Template;
use daefr::live::{
    run_live, FaceRestorer, FrameDetector, LiveOptions, LiveStages, LiveStats, OverlayFlags,
    RetryPolicy, TemplateCompositor, TruthDetector,
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
    fn restore_face(&mut self, frame: &RgbImage, face: &Face) -> daefr::Result<RestoredCrop> {
        let aligned = align_face(frame, face, &template(), SIZE)?;
        std::thread::sleep(self.delay);
        self.count.fetch_add(1, Ordering::SeqCst);
        // pasted as it is (no crop given): the painted face lands on the frame unmistakably
        Ok(RestoredCrop {
            restored: RgbImage::from_pixel(aligned.crop.width(), aligned.crop.height(), PAINT),
            given: None,
        })
    }
}

/// A detector that never finds a face (tests of sources and shutdown).
pub struct NoFaces;

impl FrameDetector for NoFaces {
    fn detect_frame(&mut self, _frame: &Frame) -> daefr::Result<Vec<Face>> {
        Ok(Vec::new())
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

    fn describe(&self) -> String {
        "flaky synthetic".into()
    }
}

/// Live options with fast retries, a 60 s safety limit and the given overlays.
pub fn options(max_frames: Option<u64>, overlay: OverlayFlags) -> LiveOptions {
    LiveOptions {
        overlay,
        retry: RetryPolicy {
            initial: Duration::from_millis(5),
            max: Duration::from_millis(20),
        },
        max_frames,
        max_duration: Some(Duration::from_secs(60)),
        ..LiveOptions::default()
    }
}

/// No overlays at all (pixel comparisons).
pub fn no_overlay() -> OverlayFlags {
    OverlayFlags::NONE
}

/// Runs `source` through the loop with its ground truth as the detector, the painting restorer
/// and an in-memory display.
pub fn run_with(
    source: SyntheticSource,
    options: LiveOptions,
    delay: Duration,
    keep: usize,
) -> (LiveStats, MemoryFrames) {
    let (source, truth) = source.with_truth();
    let (display, frames) = MemoryDisplay::new(keep);
    let stages = LiveStages {
        source: Box::new(source),
        detector: Box::new(TruthDetector(truth)),
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

//! A deterministic synthetic camera: moving, scaling, blurred and noisy copies of a public-domain
//! portrait (`models/synthetic/astronaut.png`) over a smooth background. Used by tests, the
//! benchmark and the headless demo; [`SyntheticSource::with_truth`] also reports where each face
//! really is, on a feed of its own (frames themselves carry no ground truth).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crossbeam_channel::{unbounded, Receiver, Sender};
use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};

use super::{CaptureError, FrameSource, Pacer};

/// File the synthetic faces are cut from, relative to the repository (for messages).
const SYNTHETIC_FACE_FILE: &str = "models/synthetic/astronaut.png";

/// The portrait the synthetic faces are cut from (512x512, NASA, public domain; shipped under
/// `models/synthetic/`), compiled into the binary so the headless demo runs from any directory.
pub const SYNTHETIC_FACE_PNG: &[u8] = include_bytes!("../../models/synthetic/astronaut.png");

/// Face square cut from the portrait: left, top, side (portrait pixels).
const PATCH: (u32, u32, u32) = (124, 20, 200);
/// Hand-measured keypoints inside that square (BlazeFace order: right eye, left eye, nose tip,
/// mouth centre, right ear, left ear; the subject's right eye is on the image's left).
const PATCH_KEYPOINTS: [[f32; 2]; 6] = [
    [78.5, 81.0],
    [124.0, 83.0],
    [101.0, 105.0],
    [98.5, 125.0],
    [51.0, 95.0],
    [148.0, 97.0],
];
/// Face box inside that square (x0, y0, x1, y1).
const PATCH_BOX: [f32; 4] = [45.0, 50.0, 155.0, 160.0];
/// The patch is shrunk to this side before being scaled up into the frame: the blur to restore.
const DEGRADED_SIDE: u32 = 64;
/// Motion is computed at this nominal rate so frame N looks the same however fast frames are made.
const MOTION_FPS: f32 = 30.0;

/// Where one synthetic face is in a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyntheticFace {
    /// Face box x0, y0, x1, y1 in frame pixels.
    pub bbox: [f32; 4],
    /// Keypoints in frame pixels, BlazeFace order.
    pub keypoints: [[f32; 2]; 6],
}

/// See the module documentation.
pub struct SyntheticSource {
    width: u32,
    height: u32,
    faces: u32,
    seed: u64,
    index: u64,
    background: RgbImage,
    patch: RgbImage,
    pacer: Pacer,
    truth: Option<Sender<(u64, Vec<SyntheticFace>)>>,
}

/// The ground truth of a [`SyntheticSource`] made by [`SyntheticSource::with_truth`]: the faces of
/// every frame it delivers, numbered from 0 in delivery order (the live loop's frame numbers).
pub struct TruthFeed {
    receiver: Receiver<(u64, Vec<SyntheticFace>)>,
    ahead: Option<(u64, Vec<SyntheticFace>)>,
}

impl TruthFeed {
    /// The faces of delivered frame `n`, dropping the truth of earlier frames (frames are asked
    /// for in increasing order). `None` when frame `n` has not been delivered, or was asked for
    /// after a later one.
    pub fn faces_of(&mut self, n: u64) -> Option<Vec<SyntheticFace>> {
        loop {
            let (index, faces) = match self.ahead.take() {
                Some(entry) => entry,
                None => self.receiver.try_recv().ok()?,
            };
            match index.cmp(&n) {
                std::cmp::Ordering::Less => continue,
                std::cmp::Ordering::Equal => return Some(faces),
                std::cmp::Ordering::Greater => {
                    self.ahead = Some((index, faces));
                    return None;
                }
            }
        }
    }
}

impl SyntheticSource {
    /// A `width` x `height` source with `faces` faces; `fps` paces it (None: as fast as possible).
    pub fn new(
        width: u32,
        height: u32,
        faces: u32,
        seed: u64,
        fps: Option<f32>,
    ) -> Result<Self, CaptureError> {
        let decode = |problem: String| CaptureError::Decode {
            path: SYNTHETIC_FACE_FILE.into(),
            problem,
        };
        let portrait = image::load_from_memory(SYNTHETIC_FACE_PNG)
            .map_err(|e| decode(e.to_string()))?
            .to_rgb8();
        let (x, y, side) = PATCH;
        let patch = imageops::crop_imm(&portrait, x, y, side, side).to_image();
        let patch = imageops::resize(&patch, DEGRADED_SIDE, DEGRADED_SIDE, FilterType::Triangle);
        let background = RgbImage::from_fn(width, height, |x, y| {
            let fx = x as f32 / width.max(1) as f32;
            let fy = y as f32 / height.max(1) as f32;
            Rgb([
                (150.0 + 40.0 * fx) as u8,
                (140.0 + 30.0 * fy) as u8,
                (150.0 - 30.0 * fx + 20.0 * fy) as u8,
            ])
        });
        Ok(Self {
            width,
            height,
            faces: faces.max(1),
            seed,
            index: 0,
            background,
            patch,
            pacer: Pacer::new(fps),
            truth: None,
        })
    }

    /// This source, reporting the faces of every frame it delivers on the returned feed.
    pub fn with_truth(mut self) -> (Self, TruthFeed) {
        let (sender, receiver) = unbounded();
        self.truth = Some(sender);
        let feed = TruthFeed {
            receiver,
            ahead: None,
        };
        (self, feed)
    }

    /// Where the faces are in frame `index` (square side and top-left corner of each patch).
    fn layout(&self, index: u64) -> Vec<(f32, f32, f32)> {
        let t = index as f32 / MOTION_FPS;
        let (w, h) = (self.width as f32, self.height as f32);
        let n = self.faces as f32;
        let lane = w / n;
        let base = (h * 0.6).min(lane * 0.95);
        (0..self.faces)
            .map(|k| {
                let phase = k as f32 * 1.7 + (self.seed % 97) as f32 * 0.1;
                let side = base * (0.85 + 0.12 * (t * 0.7 + phase).sin());
                let cx = lane * (k as f32 + 0.5) + lane * 0.08 * (t * 0.9 + phase).sin();
                let cy = h * 0.5 + h * 0.1 * (t * 0.6 + phase * 0.5).cos();
                (side, cx - side / 2.0, cy - side / 2.0)
            })
            .collect()
    }

    /// Renders frame `index` and its ground truth; the same index always gives the same pixels.
    pub fn render(&self, index: u64) -> (RgbImage, Vec<SyntheticFace>) {
        let mut frame = self.background.clone();
        let mut truth = Vec::new();
        for (side, left, top) in self.layout(index) {
            let px = side.round().max(1.0) as u32;
            let face = imageops::resize(&self.patch, px, px, FilterType::Triangle);
            imageops::overlay(&mut frame, &face, left.round() as i64, top.round() as i64);
            let scale = px as f32 / PATCH.2 as f32;
            let (ox, oy) = (left.round(), top.round());
            let map = |p: [f32; 2]| [ox + p[0] * scale, oy + p[1] * scale];
            truth.push(SyntheticFace {
                bbox: [
                    ox + PATCH_BOX[0] * scale,
                    oy + PATCH_BOX[1] * scale,
                    ox + PATCH_BOX[2] * scale,
                    oy + PATCH_BOX[3] * scale,
                ],
                keypoints: PATCH_KEYPOINTS.map(map),
            });
        }
        add_noise(
            &mut frame,
            self.seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            6,
        );
        (frame, truth)
    }
}

/// Adds uniform noise in `-amplitude..=amplitude` to every channel, from a SplitMix64 stream
/// (a few lines, deterministic across platforms, which `rand`'s default generators do not promise).
fn add_noise(frame: &mut RgbImage, seed: u64, amplitude: i32) {
    let mut state = seed;
    let span = (2 * amplitude + 1) as u64;
    for chunk in frame.as_mut().chunks_mut(8) {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        for (i, value) in chunk.iter_mut().enumerate() {
            let byte = (z >> (i * 8)) & 0xFF;
            let delta = (byte % span) as i32 - amplitude;
            *value = (*value as i32 + delta).clamp(0, 255) as u8;
        }
    }
}

impl FrameSource for SyntheticSource {
    fn next_frame(&mut self) -> Result<RgbImage, CaptureError> {
        self.pacer.wait();
        let (frame, truth) = self.render(self.index);
        if let Some(sender) = &self.truth {
            // A dropped feed only means nobody wants the truth any more.
            let _ = sender.send((self.index, truth));
        }
        self.index += 1;
        Ok(frame)
    }

    fn watch_stop(&mut self, stop: Arc<AtomicBool>) {
        self.pacer.watch_stop(stop);
    }

    fn describe(&self) -> String {
        format!(
            "synthetic {}x{}, {} face(s), seed {}",
            self.width, self.height, self.faces, self.seed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_deterministic_and_move() {
        let source = SyntheticSource::new(320, 240, 2, 7, None).unwrap();
        let (a, truth_a) = source.render(5);
        let (b, _) = source.render(5);
        let (c, truth_c) = source.render(40);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(truth_a.len(), 2);
        assert_ne!(truth_a[0].bbox, truth_c[0].bbox);
        for face in &truth_a {
            assert!(face.bbox[0] < face.keypoints[0][0] && face.keypoints[1][0] < face.bbox[2]);
        }
    }

    #[test]
    fn the_truth_feed_follows_delivered_frames_and_skips_dropped_ones() {
        let (mut source, mut feed) = SyntheticSource::new(160, 120, 1, 3, None)
            .unwrap()
            .with_truth();
        assert_eq!(feed.faces_of(0), None, "nothing delivered yet");
        for _ in 0..4 {
            source.next_frame().unwrap();
        }
        assert_eq!(feed.faces_of(1), Some(source.render(1).1));
        assert_eq!(feed.faces_of(0), None, "asked after a later frame");
        assert_eq!(feed.faces_of(3), Some(source.render(3).1));
        assert_ne!(source.render(1).1, source.render(3).1);
        assert_eq!(feed.faces_of(4), None);
    }
}

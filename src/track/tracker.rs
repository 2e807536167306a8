//! Face tracks across frames: greedy IoU matching, One-Euro smoothing of box and keypoints, and
//! the last restored face of each track.

use std::sync::Arc;

use crate::align::RestoredCrop;

use super::smoothing::OneEuro;
use crate::geometry::{iou, Face};

/// Tracking parameters (from `[pipeline]`).
#[derive(Debug, Clone, Copy)]
pub struct TrackerConfig {
    /// Minimum IoU for a detection to continue a track.
    pub match_iou: f32,
    /// Frames a track survives unmatched.
    pub max_missed: u32,
    /// One-Euro cutoff at rest (Hz).
    pub min_cutoff_hz: f32,
    /// One-Euro speed coefficient.
    pub beta: f32,
    /// Nominal frames per second (turns sequence-number gaps into seconds).
    pub fps: f32,
}

impl Default for TrackerConfig {
    /// The profile's `[pipeline]` defaults at 30 frames per second.
    fn default() -> Self {
        TrackerConfig {
            match_iou: 0.3,
            max_missed: 5,
            min_cutoff_hz: 1.0,
            beta: 0.02,
            fps: 30.0,
        }
    }
}

/// One face followed over time.
#[derive(Debug, Clone)]
pub struct Track {
    /// Unique, increasing id.
    pub id: u64,
    /// The smoothed face (box and keypoints), used for alignment and pasting.
    pub face: Face,
    /// Sequence number of the last frame the face was detected in.
    pub last_seen: u64,
    /// Frames since then.
    pub missed: u32,
    /// The last restored face (model-crop space) and the frame it was made from.
    pub restored: Option<(Arc<RestoredCrop>, u64)>,
    /// A restore job for this track is running.
    pub pending: bool,
    filters: Box<[OneEuro; 16]>,
}

impl Track {
    /// Box area in square pixels (the scheduler's "biggest first").
    pub fn area(&self) -> f32 {
        let [x0, y0, x1, y1] = self.face.bbox;
        (x1 - x0).max(0.0) * (y1 - y0).max(0.0)
    }

    fn smooth(&mut self, raw: &Face, dt: f32) {
        let mut values = [0f32; 16];
        values[..4].copy_from_slice(&raw.bbox);
        for (i, p) in raw.keypoints.iter().enumerate() {
            values[4 + 2 * i] = p[0];
            values[5 + 2 * i] = p[1];
        }
        for (v, f) in values.iter_mut().zip(self.filters.iter_mut()) {
            *v = f.filter(*v, dt);
        }
        self.face.bbox.copy_from_slice(&values[..4]);
        for (i, p) in self.face.keypoints.iter_mut().enumerate() {
            *p = [values[4 + 2 * i], values[5 + 2 * i]];
        }
        self.face.score = raw.score;
    }
}

/// All live tracks.
#[derive(Debug)]
pub struct Tracker {
    config: TrackerConfig,
    tracks: Vec<Track>,
    next_id: u64,
}

impl Tracker {
    /// An empty tracker.
    pub fn new(config: TrackerConfig) -> Self {
        Self {
            config,
            tracks: Vec::new(),
            next_id: 1,
        }
    }

    /// Matches `faces` (detected in frame `seq`) to tracks, best IoU first; unmatched faces start
    /// tracks, tracks unmatched for more than `max_missed` frames end.
    pub fn update(&mut self, faces: &[Face], seq: u64) {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (t, track) in self.tracks.iter().enumerate() {
            for (f, face) in faces.iter().enumerate() {
                let iou = iou(&track.face.bbox, &face.bbox);
                if iou >= self.config.match_iou {
                    pairs.push((iou, t, f));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut track_taken = vec![false; self.tracks.len()];
        let mut face_taken = vec![false; faces.len()];
        let fps = self.config.fps.max(1.0);
        for (_, t, f) in pairs {
            if track_taken[t] || face_taken[f] {
                continue;
            }
            track_taken[t] = true;
            face_taken[f] = true;
            let track = &mut self.tracks[t];
            let dt = seq.saturating_sub(track.last_seen).max(1) as f32 / fps;
            track.smooth(&faces[f], dt);
            track.last_seen = seq;
            track.missed = 0;
        }
        for (t, track) in self.tracks.iter_mut().enumerate() {
            if !track_taken[t] {
                track.missed += 1;
            }
        }
        let max_missed = self.config.max_missed;
        self.tracks.retain(|t| t.missed <= max_missed);
        for (f, face) in faces.iter().enumerate() {
            if face_taken[f] {
                continue;
            }
            let mut track = Track {
                id: self.next_id,
                face: *face,
                last_seen: seq,
                missed: 0,
                restored: None,
                pending: false,
                filters: Box::new([OneEuro::new(self.config.min_cutoff_hz, self.config.beta); 16]),
            };
            track.smooth(face, 0.0);
            self.next_id += 1;
            self.tracks.push(track);
        }
    }

    /// Tracks detected in the latest frame.
    pub fn visible(&self) -> impl Iterator<Item = &Track> {
        self.tracks.iter().filter(|t| t.missed == 0)
    }

    /// All live tracks, including briefly unmatched ones.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Marks a restore job as started for track `id`.
    pub fn set_pending(&mut self, id: u64) {
        if let Some(t) = self.tracks.iter_mut().find(|t| t.id == id) {
            t.pending = true;
        }
    }

    /// Records a finished restore job (`restored` is None when it failed). Tracks that ended in
    /// the meantime are ignored.
    pub fn finish(&mut self, id: u64, restored: Option<Arc<RestoredCrop>>, seq: u64) {
        if let Some(t) = self.tracks.iter_mut().find(|t| t.id == id) {
            t.pending = false;
            if let Some(image) = restored {
                t.restored = Some((image, seq));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn face_at(x: f32, y: f32, side: f32) -> Face {
        Face {
            bbox: [x, y, x + side, y + side],
            score: 0.9,
            keypoints: [
                [x + 0.3 * side, y + 0.4 * side],
                [x + 0.7 * side, y + 0.4 * side],
                [x + 0.5 * side, y + 0.6 * side],
                [x + 0.5 * side, y + 0.8 * side],
                [x, y + 0.5 * side],
                [x + side, y + 0.5 * side],
            ],
        }
    }

    fn config() -> TrackerConfig {
        TrackerConfig {
            match_iou: 0.3,
            max_missed: 2,
            min_cutoff_hz: 1.0,
            beta: 0.02,
            fps: 30.0,
        }
    }

    #[test]
    fn ids_follow_moving_faces_and_end_after_misses() {
        let mut tracker = Tracker::new(config());
        tracker.update(&[face_at(0.0, 0.0, 100.0), face_at(300.0, 0.0, 100.0)], 0);
        let ids: Vec<u64> = tracker.visible().map(|t| t.id).collect();
        assert_eq!(ids, vec![1, 2]);
        // Both move a little; listed in the other order: ids stay with their faces.
        tracker.update(&[face_at(305.0, 3.0, 100.0), face_at(4.0, 2.0, 100.0)], 1);
        let mut seen: Vec<(u64, f32)> = tracker.visible().map(|t| (t.id, t.face.bbox[0])).collect();
        seen.sort_by_key(|s| s.0);
        assert_eq!(seen.len(), 2);
        assert!(seen[0].1 < 10.0 && seen[1].1 > 290.0, "{seen:?}");
        for seq in 2..5 {
            tracker.update(&[face_at(4.0, 2.0, 100.0)], seq);
        }
        assert_eq!(tracker.tracks().len(), 1);
        assert_eq!(tracker.tracks()[0].id, 1);
    }

    #[test]
    fn keypoint_jitter_is_smoothed() {
        let mut tracker = Tracker::new(config());
        let mut worst: f32 = 0.0;
        for seq in 0..60u64 {
            let jitter = if seq % 2 == 0 { 3.0 } else { -3.0 };
            tracker.update(&[face_at(100.0 + jitter, 100.0 - jitter, 100.0)], seq);
            if seq > 10 {
                let eye = tracker.visible().next().map(|t| t.face.keypoints[0][0]);
                worst = worst.max((eye.unwrap_or(0.0) - 130.0).abs());
            }
        }
        assert!(worst < 1.5, "raw jitter 3 px, smoothed {worst}");
    }
}

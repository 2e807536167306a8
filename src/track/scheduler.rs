//! Which faces get restored, as a pure state machine driven by messages: each detected frame
//! ([`Scheduler::on_frame`]) updates the tracks, takes in finished restores and says which faces to
//! show and which restores to start. At most `max_faces` per frame are restored, the biggest
//! (nearest) first; the workers refresh them oldest-first, faces never restored before anything
//! else. No threads, no clocks: tests drive it frame by frame.

use std::sync::Arc;

use crate::align::RestoredCrop;

use super::tracker::{Track, Tracker, TrackerConfig};
use crate::geometry::Face;

/// A finished restore, as a worker reports it.
#[derive(Debug, Clone)]
pub struct RestoreResult {
    /// The track the face belongs to.
    pub track: u64,
    /// Frame the face was cut from.
    pub seq: u64,
    /// The restored face in crop space; `None` when restoring failed.
    pub restored: Option<Arc<RestoredCrop>>,
    /// Align + restore time in milliseconds.
    pub ms: f64,
}

/// A face to restore: its track and where it is in the frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestoreRequest {
    /// The track.
    pub track: u64,
    /// The track's current (smoothed) face.
    pub face: Face,
}

/// One tracked face as the display needs it.
#[derive(Debug, Clone)]
pub struct ShownFace {
    /// Current (smoothed) position.
    pub face: Face,
    /// The track's latest restored face, if any.
    pub restored: Option<Arc<RestoredCrop>>,
    /// Among the `max_faces` shown restored this frame.
    pub eligible: bool,
}

/// What the scheduler decided for one frame.
#[derive(Debug, Clone, Default)]
pub struct FramePlan {
    /// Every visible track.
    pub shown: Vec<ShownFace>,
    /// Restores to offer to idle workers, most urgent first; report the ones handed over with
    /// [`Scheduler::started`].
    pub requests: Vec<RestoreRequest>,
}

/// Tracks faces and schedules their restores (see the module documentation).
#[derive(Debug)]
pub struct Scheduler {
    tracker: Tracker,
    max_faces: usize,
}

impl Scheduler {
    /// A scheduler with no tracks yet.
    pub fn new(tracking: TrackerConfig, max_faces: usize) -> Self {
        Scheduler {
            tracker: Tracker::new(tracking),
            max_faces,
        }
    }

    /// Frame `seq` was detected with `faces`, and `results` finished since the last frame: updates
    /// the tracks and plans the frame.
    pub fn on_frame(
        &mut self,
        seq: u64,
        faces: &[Face],
        results: impl IntoIterator<Item = RestoreResult>,
    ) -> FramePlan {
        self.tracker.update(faces, seq);
        for r in results {
            self.tracker.finish(r.track, r.restored, r.seq);
        }
        let picked = eligible(self.tracker.visible(), self.max_faces);
        let requests = refresh_order(&picked)
            .into_iter()
            .filter_map(|id| picked.iter().find(|t| t.id == id))
            .map(|t| RestoreRequest {
                track: t.id,
                face: t.face,
            })
            .collect();
        let picked_ids: Vec<u64> = picked.iter().map(|t| t.id).collect();
        let shown = self
            .tracker
            .visible()
            .map(|t| ShownFace {
                face: t.face,
                restored: t.restored.as_ref().map(|(img, _)| img.clone()),
                eligible: picked_ids.contains(&t.id),
            })
            .collect();
        FramePlan { shown, requests }
    }

    /// A worker took the restore of `track`: it is not offered again until its result is in.
    pub fn started(&mut self, track: u64) {
        self.tracker.set_pending(track);
    }
}

/// The visible tracks that are shown restored this frame: the `max_faces` biggest.
pub fn eligible<'a>(visible: impl Iterator<Item = &'a Track>, max_faces: usize) -> Vec<&'a Track> {
    let mut tracks: Vec<&Track> = visible.collect();
    tracks.sort_by(|a, b| b.area().total_cmp(&a.area()));
    tracks.truncate(max_faces);
    tracks
}

/// Order in which eligible tracks should be sent to a free worker: never-restored first (biggest
/// first among them), then by age of their restored face, oldest first. Pending tracks are skipped.
pub fn refresh_order(eligible: &[&Track]) -> Vec<u64> {
    let mut candidates: Vec<(Option<u64>, usize, u64)> = eligible
        .iter()
        .enumerate()
        .filter(|(_, t)| !t.pending)
        .map(|(rank, t)| (t.restored.as_ref().map(|(_, seq)| *seq), rank, t.id))
        .collect();
    // None sorts before Some: never-restored first; then oldest restore; ties by size rank.
    candidates.sort();
    candidates.into_iter().map(|(_, _, id)| id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn biggest_first_then_oldest_restore_first() {
        let mut tracker = Tracker::new(TrackerConfig {
            match_iou: 0.3,
            max_missed: 2,
            min_cutoff_hz: 1.0,
            beta: 0.0,
            fps: 30.0,
        });
        let face = |x: f32, side: f32| Face {
            bbox: [x, 0.0, x + side, side],
            score: 1.0,
            keypoints: [[x, 0.0]; 6],
        };
        tracker.update(&[face(0.0, 50.0), face(100.0, 120.0), face(300.0, 80.0)], 0);
        let order: Vec<u64> = eligible(tracker.visible(), 2)
            .iter()
            .map(|t| t.id)
            .collect();
        assert_eq!(order, vec![2, 3], "two biggest, biggest first");
        let img = Arc::new(RestoredCrop {
            restored: image::RgbImage::new(1, 1),
            given: None,
        });
        tracker.finish(2, Some(img.clone()), 5);
        tracker.finish(3, Some(img), 3);
        let picked = eligible(tracker.visible(), 3);
        assert_eq!(refresh_order(&picked), vec![1, 3, 2]);
        tracker.set_pending(1);
        let picked = eligible(tracker.visible(), 3);
        assert_eq!(refresh_order(&picked), vec![3, 2]);
    }

    fn tracking() -> TrackerConfig {
        TrackerConfig {
            match_iou: 0.3,
            max_missed: 2,
            min_cutoff_hz: 1.0,
            beta: 0.0,
            fps: 30.0,
        }
    }

    fn face_at(x: f32, side: f32) -> Face {
        Face {
            bbox: [x, 0.0, x + side, side],
            score: 1.0,
            keypoints: [[x, 0.0]; 6],
        }
    }

    #[test]
    fn frames_drive_requests_pending_results_and_what_is_shown() {
        let mut scheduler = Scheduler::new(tracking(), 1);
        let faces = [face_at(0.0, 50.0), face_at(200.0, 90.0)];
        let plan = scheduler.on_frame(0, &faces, []);
        assert_eq!(plan.shown.len(), 2);
        assert_eq!(plan.shown.iter().filter(|f| f.eligible).count(), 1);
        let ids: Vec<u64> = plan.requests.iter().map(|r| r.track).collect();
        assert_eq!(ids.len(), 1, "max_faces = 1: only the biggest is requested");
        let big = ids[0];
        assert_eq!(plan.requests[0].face.bbox[0], 200.0);

        // Handed to a worker: not requested again while it runs.
        scheduler.started(big);
        let plan = scheduler.on_frame(1, &faces, []);
        assert!(plan.requests.is_empty());
        assert!(plan.shown.iter().all(|f| f.restored.is_none()));

        // Its result comes back: shown restored, and requested again for a refresh.
        let done = RestoreResult {
            track: big,
            seq: 1,
            restored: Some(Arc::new(RestoredCrop {
                restored: image::RgbImage::new(2, 2),
                given: None,
            })),
            ms: 1.0,
        };
        let plan = scheduler.on_frame(2, &faces, [done]);
        let restored: Vec<&ShownFace> =
            plan.shown.iter().filter(|f| f.restored.is_some()).collect();
        assert_eq!(restored.len(), 1);
        assert!(restored[0].eligible);
        assert_eq!(
            plan.requests.iter().map(|r| r.track).collect::<Vec<_>>(),
            vec![big]
        );

        // The face leaves the frame: after max_missed frames it is no longer shown.
        for seq in 3..6 {
            scheduler.on_frame(seq, &faces[..1], []);
        }
        let plan = scheduler.on_frame(6, &faces[..1], []);
        assert_eq!(plan.shown.len(), 1);
        assert_eq!(plan.shown[0].face.bbox[0], 0.0);
    }
}

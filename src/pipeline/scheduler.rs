//! Which faces get restored: at most `max_faces` per frame, the biggest (nearest) first; the
//! restore workers refresh them oldest-first, faces never restored before anything else.

use super::tracker::Track;

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
    use crate::pipeline::tracker::{Tracker, TrackerConfig};
    use std::sync::Arc;

    #[test]
    fn biggest_first_then_oldest_restore_first() {
        let mut tracker = Tracker::new(TrackerConfig {
            match_iou: 0.3,
            max_missed: 2,
            min_cutoff_hz: 1.0,
            beta: 0.0,
            fps: 30.0,
        });
        let face = |x: f32, side: f32| crate::detect::Face {
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
        let img = Arc::new(image::RgbImage::new(1, 1));
        tracker.finish(2, Some(img.clone()), 5);
        tracker.finish(3, Some(img), 3);
        let picked = eligible(tracker.visible(), 3);
        assert_eq!(refresh_order(&picked), vec![1, 3, 2]);
        tracker.set_pending(1);
        let picked = eligible(tracker.visible(), 3);
        assert_eq!(refresh_order(&picked), vec![3, 2]);
    }
}

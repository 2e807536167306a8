//! The stage traits the live loop runs, and their implementations on the real detector, aligner
//! and restorer. Tests and benchmarks swap in their own (see `TruthDetector`).

use image::RgbImage;

use crate::align::{estimate_similarity, paste_crop_with, BlendMask, RestoredCrop};
use crate::capture::{Frame, TruthFeed};
use crate::detect::FaceDetector;
use crate::geometry::{Face, Template};
use crate::model::Restorer;
use crate::Result;

/// Finds faces in a captured frame.
pub trait FrameDetector: Send {
    /// Faces in `frame`, in its pixel coordinates.
    fn detect_frame(&mut self, frame: &Frame) -> Result<Vec<Face>>;
}

/// Runs any [`FaceDetector`] (BlazeFace) on the frame's pixels.
pub struct DetectorStage(pub Box<dyn FaceDetector>);

impl FrameDetector for DetectorStage {
    fn detect_frame(&mut self, frame: &Frame) -> Result<Vec<Face>> {
        Ok(self.0.detect(&frame.image)?)
    }
}

/// "Detects" the faces a synthetic source reports it drew (its [`TruthFeed`]): exact boxes and
/// keypoints, no model. For tests and for benchmarks that measure the rest of the loop.
pub struct TruthDetector(pub TruthFeed);

impl FrameDetector for TruthDetector {
    fn detect_frame(&mut self, frame: &Frame) -> Result<Vec<Face>> {
        Ok(self
            .0
            .faces_of(frame.seq)
            .unwrap_or_default()
            .iter()
            .map(|t| Face {
                bbox: t.bbox,
                score: 1.0,
                keypoints: t.keypoints,
            })
            .collect())
    }
}

/// Restores one face of a frame; runs on a restore worker thread.
pub trait FaceRestorer: Send {
    /// The restored face in the model's crop space (aligned to the template), with the crop it was
    /// made from when the compositor should paste its change (the photo path's default).
    fn restore_face(&mut self, frame: &RgbImage, face: &Face) -> Result<RestoredCrop>;
}

/// Puts a restored face (crop space) back into a frame at a face's current position. Shared by
/// the display thread; must be cheap compared with restoring.
pub trait FaceCompositor: Send + Sync {
    /// Pastes `crop` over `face` in `frame`.
    fn paste(&self, frame: &mut RgbImage, crop: &RestoredCrop, face: &Face);
}

/// Align + restore with the DAEFR model.
pub struct ModelRestorer {
    restorer: Restorer,
}

impl ModelRestorer {
    /// Wraps a loaded model.
    pub fn new(restorer: Restorer) -> Self {
        Self { restorer }
    }

    /// The compositor matching this model's template and input size.
    pub fn compositor(&self) -> TemplateCompositor {
        TemplateCompositor {
            template: *self.restorer.template(),
            size: self.restorer.input_size(),
        }
    }
}

impl FaceRestorer for ModelRestorer {
    fn restore_face(&mut self, frame: &RgbImage, face: &Face) -> Result<RestoredCrop> {
        // the change (restored - given) is pasted later, onto the face in the frame shown then:
        // the frame keeps its own resolution, as in whole-photo mode
        crate::photo::align_and_restore(&self.restorer, frame, face).map(|(aligned, restored)| {
            RestoredCrop {
                restored,
                given: Some(aligned.crop),
            }
        })
    }
}

/// Pastes a template-aligned restored face at a face's current keypoints: the restored face was
/// made from an earlier frame, but since it lives in template space it follows the face's motion.
#[derive(Debug, Clone, Copy)]
pub struct TemplateCompositor {
    /// Alignment template of the model (crop pixels).
    pub template: Template,
    /// Model input size.
    pub size: u32,
}

impl FaceCompositor for TemplateCompositor {
    fn paste(&self, frame: &mut RgbImage, crop: &RestoredCrop, face: &Face) {
        let Some(transform) =
            estimate_similarity(&face.alignment_points(), &self.template.points())
        else {
            return;
        };
        paste_crop_with(frame, crop, &transform, self.size, &BlendMask::default());
    }
}

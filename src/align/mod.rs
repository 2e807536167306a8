//! Face alignment: fit a similarity from detected keypoints to the model's template, warp the face
//! into the model's input crop, and paste the restored crop back with a feathered mask.

mod paste;
mod similarity;
mod warp;

use image::RgbImage;

pub use paste::{
    paste_crop_with, paste_face, paste_face_with, paste_restored, BlendMask, PasteMode,
    PasteOptions, RestoredCrop,
};
pub use similarity::{estimate_similarity, Similarity};
pub use warp::warp_to_crop;

use crate::geometry::{Face, Template};

/// A face warped into the model's input crop, with the transform that undoes it.
#[derive(Debug, Clone)]
pub struct AlignedFace {
    /// The `size` x `size` crop handed to the restorer.
    pub crop: RgbImage,
    /// Frame pixels -> crop pixels (continuous coordinates, pixel centres at integer + 0.5).
    pub transform: Similarity,
}

/// Failures specific to alignment.
#[derive(Debug, thiserror::Error)]
pub enum AlignError {
    /// The keypoints are degenerate (coincident or not finite): no transform fits them.
    #[error("cannot align face at {bbox:?}: its keypoints are degenerate")]
    DegenerateKeypoints {
        /// The face's box, to tell which face failed.
        bbox: [f32; 4],
    },
    /// The crop size or the frame is empty.
    #[error("cannot align a face into a {size}x{size} crop of a {width}x{height} frame")]
    EmptyCrop {
        /// Requested crop side.
        size: u32,
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
    },
}

/// Warp `face` out of `frame` into a `size` x `size` crop whose right eye, left eye, nose tip and
/// mouth centre land (in the least-squares sense) on `template`, which is given in pixels of a
/// `size` crop. Parts of the crop beyond the frame are mirrored in from inside it.
pub fn align_face(
    frame: &RgbImage,
    face: &Face,
    template: &Template,
    size: u32,
) -> Result<AlignedFace, AlignError> {
    if size == 0 || frame.width() == 0 || frame.height() == 0 {
        return Err(AlignError::EmptyCrop {
            size,
            width: frame.width(),
            height: frame.height(),
        });
    }
    let degenerate = || AlignError::DegenerateKeypoints { bbox: face.bbox };
    let transform =
        estimate_similarity(&face.alignment_points(), &template.points()).ok_or_else(degenerate)?;
    let crop = warp_to_crop(frame, &transform, size).ok_or_else(degenerate)?;
    Ok(AlignedFace { crop, transform })
}

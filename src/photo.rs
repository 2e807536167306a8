//! Whole photos: detect every face, align it to the model's template, restore it, paste it back.
//!
//! All faces are cut from the untouched input first, so an overlapping neighbour never feeds an
//! already restored face back into the network; they are then pasted lowest score first, so where
//! two masks overlap the most confident face ends on top.

use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};

use crate::align::{align_face, paste_restored, AlignedFace, BlendMask, PasteMode, PasteOptions};
use crate::detect::{Face, FaceDetector};
use crate::model::{Restorer, Template};
use crate::Result;

/// Default minimum face width (detector box, input pixels) worth restoring.
pub const DEFAULT_MIN_FACE: f32 = 32.0;

/// Options of [`restore_photo`].
#[derive(Debug, Clone)]
pub struct PhotoOptions {
    /// Faces whose box is narrower than this many pixels are skipped (logged, left as they are):
    /// the network would only turn them into mush.
    pub min_face: f32,
    /// Write each aligned input and restored crop into this directory
    /// (`face-NN-aligned.png`, `face-NN-restored.png`).
    pub save_faces: Option<PathBuf>,
    /// Draw every detected face's box and keypoints onto the output (green: restored,
    /// red: skipped).
    pub draw_boxes: bool,
    /// Shape of the paste-back mask.
    pub blend: BlendMask,
    /// Paste back the restoration's change (default) or the restored crop itself.
    pub paste: PasteMode,
    /// Blend in `[0, 1]` of the restored face with the original after paste-back (`--blend`).
    pub blend_amount: f32,
}

impl Default for PhotoOptions {
    fn default() -> Self {
        PhotoOptions {
            min_face: DEFAULT_MIN_FACE,
            save_faces: None,
            draw_boxes: false,
            blend: BlendMask::default(),
            paste: PasteMode::default(),
            blend_amount: 1.0,
        }
    }
}

/// What happened to one detected face.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceOutcome {
    /// Restored and pasted back.
    Restored,
    /// Narrower than [`PhotoOptions::min_face`]; left untouched.
    TooSmall,
    /// Its keypoints could not be aligned; left untouched.
    Unalignable,
}

/// The restored photo and what was done to each face.
#[derive(Debug, Clone)]
pub struct PhotoOutput {
    /// The output picture, same size as the input.
    pub image: RgbImage,
    /// Every detected face with its outcome, best score first.
    pub faces: Vec<(Face, FaceOutcome)>,
}

impl PhotoOutput {
    /// Number of faces restored.
    pub fn restored(&self) -> usize {
        self.faces
            .iter()
            .filter(|(_, outcome)| *outcome == FaceOutcome::Restored)
            .count()
    }
}

/// Detect, align, restore and paste back every face of `photo` with a DAEFR [`Restorer`].
/// A photo with no face comes back unchanged (with a warning in the log).
pub fn restore_photo(
    photo: &RgbImage,
    detector: &mut dyn FaceDetector,
    restorer: &Restorer,
    options: &PhotoOptions,
) -> Result<PhotoOutput> {
    let faces = detector.detect(photo)?;
    restore_faces(
        photo,
        &faces,
        restorer.template(),
        restorer.input_size(),
        options,
        |crop| restorer.restore(crop),
    )
}

/// The part of [`restore_photo`] after detection, with any crop restorer (`restore` gets a
/// `size` x `size` crop aligned to `template` and returns the restored crop, any square size).
pub fn restore_faces<F>(
    photo: &RgbImage,
    faces: &[Face],
    template: &Template,
    size: u32,
    options: &PhotoOptions,
    mut restore: F,
) -> Result<PhotoOutput>
where
    F: FnMut(&RgbImage) -> Result<RgbImage>,
{
    if faces.is_empty() {
        log::warn!("no face found; the photo is left as it is");
    }
    if let Some(dir) = &options.save_faces {
        std::fs::create_dir_all(dir).map_err(|source| crate::Error::Io {
            path: dir.clone(),
            source,
        })?;
    }
    let mut outcomes = Vec::with_capacity(faces.len());
    let mut aligned: Vec<(usize, AlignedFace)> = Vec::new();
    for (i, face) in faces.iter().enumerate() {
        if face.width() < options.min_face {
            log::info!(
                "face {i}: {:.0} px wide at ({:.0}, {:.0}), under --min-face {:.0}: skipped",
                face.width(),
                face.bbox[0],
                face.bbox[1],
                options.min_face
            );
            outcomes.push(FaceOutcome::TooSmall);
            continue;
        }
        match align_face(photo, face, template, size) {
            Ok(a) => {
                outcomes.push(FaceOutcome::Restored);
                aligned.push((i, a));
            }
            Err(e) => {
                log::warn!("face {i}: {e}; skipped");
                outcomes.push(FaceOutcome::Unalignable);
            }
        }
    }
    let mut image = photo.clone();
    // Lowest score last in `faces` order -> paste it first.
    for (i, a) in aligned.iter().rev() {
        let restored = restore(&a.crop)?;
        if let Some(dir) = &options.save_faces {
            save_crop(dir, *i, "aligned", &a.crop)?;
            save_crop(dir, *i, "restored", &restored)?;
        }
        let paste = PasteOptions {
            mask: options.blend,
            mode: options.paste,
            amount: options.blend_amount,
        };
        paste_restored(&mut image, &restored, a, &paste);
        log::info!(
            "face {i}: {:.0} px wide, score {:.2}: restored",
            faces[*i].width(),
            faces[*i].score
        );
    }
    let faces: Vec<(Face, FaceOutcome)> = faces.iter().copied().zip(outcomes).collect();
    if options.draw_boxes {
        for (face, outcome) in &faces {
            let colour = match outcome {
                FaceOutcome::Restored => Rgb([0, 255, 0]),
                _ => Rgb([255, 0, 0]),
            };
            draw_face(&mut image, face, colour);
        }
    }
    Ok(PhotoOutput { image, faces })
}

fn save_crop(dir: &Path, index: usize, what: &str, crop: &RgbImage) -> Result<()> {
    crate::image_io::write_rgb(&dir.join(format!("face-{index:02}-{what}.png")), crop)
}

/// Draw a face's box (2 px outline) and its keypoints (5 px squares; eyes yellow, nose and mouth
/// cyan, ears magenta). Everything is clipped to the image.
pub fn draw_face(image: &mut RgbImage, face: &Face, colour: Rgb<u8>) {
    let [x0, y0, x1, y1] = face.bbox.map(|v| v.round() as i64);
    for t in 0..2 {
        for x in x0..=x1 {
            put(image, x, y0 + t, colour);
            put(image, x, y1 - t, colour);
        }
        for y in y0..=y1 {
            put(image, x0 + t, y, colour);
            put(image, x1 - t, y, colour);
        }
    }
    let colours = [
        Rgb([255, 255, 0]),
        Rgb([255, 255, 0]),
        Rgb([0, 255, 255]),
        Rgb([0, 255, 255]),
        Rgb([255, 0, 255]),
        Rgb([255, 0, 255]),
    ];
    for (kp, c) in face.keypoints.iter().zip(colours) {
        let (cx, cy) = (kp[0].floor() as i64, kp[1].floor() as i64);
        for dy in -2..=2 {
            for dx in -2..=2 {
                put(image, cx + dx, cy + dy, c);
            }
        }
    }
}

fn put(image: &mut RgbImage, x: i64, y: i64, colour: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u64) < image.width() as u64 && (y as u64) < image.height() as u64 {
        image.put_pixel(x as u32, y as u32, colour);
    }
}

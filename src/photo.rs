//! The one face path: detect every face, align it to the model's template, restore it, paste it
//! back. [`FacePipeline`] runs it on whole photos for `daefr restore` and times it for `daefr
//! bench`; the live loop's restore workers run [`align_and_restore`], the same align + restore.
//!
//! All faces are cut from the untouched input first, so an overlapping neighbour never feeds an
//! already restored face back into the network; they are then pasted lowest score first, so where
//! two masks overlap the most confident face ends on top.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use image::{Rgb, RgbImage};

use crate::align::{align_face, paste_restored, AlignedFace, BlendMask, PasteMode, PasteOptions};
use crate::detect::{Face, FaceDetector};
use crate::geometry::Template;
use crate::model::Restorer;
use crate::track::Tracker;
use crate::Result;

/// Default minimum face width (detector box, input pixels) worth restoring.
pub const DEFAULT_MIN_FACE: f32 = 32.0;

/// Options of [`FacePipeline::run`] and [`restore_faces`].
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
    /// Restore at most this many faces, the best scores first (the rest count as skipped).
    pub max_faces: usize,
    /// Restore only the one face this picks (`None`: every face).
    pub only: Option<FaceSelection>,
}

/// Which one face of a photo to restore (`--only`), as CodeFormer's `--only_center_face` and
/// facefusion's face selector offer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceSelection {
    /// The widest detector box.
    Largest,
    /// The box whose centre is nearest the photo's centre.
    Center,
    /// The N-th face in detector order (0 = best score), as `--json` lists them.
    Index(usize),
}

impl FaceSelection {
    /// The index into `faces` this selects in a `width` x `height` photo (`None`: no such face).
    pub fn pick(self, faces: &[Face], (width, height): (u32, u32)) -> Option<usize> {
        let by = |key: &dyn Fn(&Face) -> f32| {
            faces
                .iter()
                .enumerate()
                .min_by(|a, b| key(a.1).total_cmp(&key(b.1)))
                .map(|(i, _)| i)
        };
        match self {
            FaceSelection::Largest => by(&|f: &Face| -f.width()),
            FaceSelection::Center => {
                let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
                by(&|f: &Face| {
                    let (x, y) = ((f.bbox[0] + f.bbox[2]) / 2.0, (f.bbox[1] + f.bbox[3]) / 2.0);
                    (x - cx).powi(2) + (y - cy).powi(2)
                })
            }
            FaceSelection::Index(n) => (n < faces.len()).then_some(n),
        }
    }
}

impl std::str::FromStr for FaceSelection {
    type Err = String;

    /// `largest`, `center` (or `centre`), or a face index `N`.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "largest" => Ok(FaceSelection::Largest),
            "center" | "centre" => Ok(FaceSelection::Center),
            other => other.parse().map(FaceSelection::Index).map_err(|_| {
                format!("{s:?}: expected largest, center, or a face index (0 = best score)")
            }),
        }
    }
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
            max_faces: usize::MAX,
            only: None,
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
    /// Beyond [`PhotoOptions::max_faces`]; left untouched.
    OverLimit,
    /// Not the face [`PhotoOptions::only`] picks; left untouched.
    NotSelected,
}

impl FaceOutcome {
    /// A short name for reports (`restored`, `too-small`, `unalignable`, `over-limit`,
    /// `not-selected`).
    pub fn name(self) -> &'static str {
        match self {
            FaceOutcome::Restored => "restored",
            FaceOutcome::TooSmall => "too-small",
            FaceOutcome::Unalignable => "unalignable",
            FaceOutcome::OverLimit => "over-limit",
            FaceOutcome::NotSelected => "not-selected",
        }
    }
}

/// Wall time of each stage of the face path, summed over the faces of the photos run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes {
    /// Face detection.
    pub detect: Duration,
    /// Alignment (similarity fit and warp) of every face.
    pub align: Duration,
    /// The network, every face.
    pub restore: Duration,
    /// Paste-back of every face.
    pub paste: Duration,
}

/// A face detector and a restorer: the whole face path of one worker (see the module
/// documentation). `run` takes `&mut self` because detectors keep per-frame state.
pub struct FacePipeline {
    detector: Box<dyn FaceDetector>,
    restorer: Restorer,
}

impl FacePipeline {
    /// The pipeline of `detector` and `restorer`.
    pub fn new(detector: Box<dyn FaceDetector>, restorer: Restorer) -> Self {
        FacePipeline { detector, restorer }
    }

    /// The restorer (model file, size, fidelity).
    pub fn restorer(&self) -> &Restorer {
        &self.restorer
    }

    /// Detect, align, restore and paste back every face of `photo`.
    pub fn run(&mut self, photo: &RgbImage, options: &PhotoOptions) -> Result<PhotoOutput> {
        self.run_timed(photo, options, &mut StageTimes::default())
    }

    /// [`FacePipeline::run`], adding each stage's wall time to `times`.
    pub fn run_timed(
        &mut self,
        photo: &RgbImage,
        options: &PhotoOptions,
        times: &mut StageTimes,
    ) -> Result<PhotoOutput> {
        let start = Instant::now();
        let faces = self.detector.detect(photo)?;
        times.detect += start.elapsed();
        self.restore_found(photo, &faces, options, times)
    }

    /// The part of a run after detection: align, restore and paste back `faces`.
    fn restore_found(
        &self,
        photo: &RgbImage,
        faces: &[Face],
        options: &PhotoOptions,
        times: &mut StageTimes,
    ) -> Result<PhotoOutput> {
        let restorer = &self.restorer;
        restore_faces_timed(
            photo,
            faces,
            restorer.template(),
            restorer.input_size(),
            options,
            |crop| restorer.restore(crop),
            times,
        )
    }
}

impl FacePipeline {
    /// One frame of a video: detect, follow the faces with `tracker` (frame number `seq`), then
    /// align, restore and paste back the tracked faces seen in this frame with their smoothed
    /// boxes and keypoints, so that alignment does not jitter from frame to frame.
    pub fn run_tracked(
        &mut self,
        frame: &RgbImage,
        tracker: &mut Tracker,
        seq: u64,
        options: &PhotoOptions,
        times: &mut StageTimes,
    ) -> Result<PhotoOutput> {
        let start = Instant::now();
        let detected = self.detector.detect(frame)?;
        tracker.update(&detected, seq);
        let mut faces: Vec<Face> = tracker.visible().map(|track| track.face).collect();
        faces.sort_by(|a, b| b.score.total_cmp(&a.score));
        times.detect += start.elapsed();
        self.restore_found(frame, &faces, options, times)
    }
}

/// Aligns `face` out of `frame` to `restorer`'s template and restores it: the align + restore
/// steps of every face path. Returns the aligned crop (with its transform) and the restoration.
pub fn align_and_restore(
    restorer: &Restorer,
    frame: &RgbImage,
    face: &Face,
) -> Result<(AlignedFace, RgbImage)> {
    let aligned = align_face(frame, face, restorer.template(), restorer.input_size())?;
    let restored = restorer.restore(&aligned.crop)?;
    Ok((aligned, restored))
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

/// The part of [`FacePipeline::run`] after detection, with any crop restorer (`restore` gets a
/// `size` x `size` crop aligned to `template` and returns the restored crop, any square size).
/// A photo with no face comes back unchanged (with a warning in the log).
pub fn restore_faces<F>(
    photo: &RgbImage,
    faces: &[Face],
    template: &Template,
    size: u32,
    options: &PhotoOptions,
    restore: F,
) -> Result<PhotoOutput>
where
    F: FnMut(&RgbImage) -> Result<RgbImage>,
{
    let mut times = StageTimes::default();
    restore_faces_timed(photo, faces, template, size, options, restore, &mut times)
}

/// [`restore_faces`], adding the align, restore and paste times to `times`.
fn restore_faces_timed<F>(
    photo: &RgbImage,
    faces: &[Face],
    template: &Template,
    size: u32,
    options: &PhotoOptions,
    mut restore: F,
    times: &mut StageTimes,
) -> Result<PhotoOutput>
where
    F: FnMut(&RgbImage) -> Result<RgbImage>,
{
    if faces.is_empty() {
        // the caller names the photo in its own report (said once, with the file name)
        log::debug!("no face found; the photo is left as it is");
    }
    if let Some(dir) = &options.save_faces {
        std::fs::create_dir_all(dir)
            .map_err(|source| crate::Error::Io { source }.with_path(dir.clone()))?;
    }
    let mut outcomes = Vec::with_capacity(faces.len());
    let mut aligned: Vec<(usize, AlignedFace)> = Vec::new();
    let picked = options
        .only
        .map(|only| only.pick(faces, photo.dimensions()));
    for (i, face) in faces.iter().enumerate() {
        if picked.is_some_and(|picked| picked != Some(i)) {
            log::info!("face {i}: not the one --only picks: skipped");
            outcomes.push(FaceOutcome::NotSelected);
            continue;
        }
        if aligned.len() >= options.max_faces {
            log::info!(
                "face {i}: over the limit of {} faces: skipped",
                options.max_faces
            );
            outcomes.push(FaceOutcome::OverLimit);
            continue;
        }
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
        let start = Instant::now();
        let fitted = align_face(photo, face, template, size);
        times.align += start.elapsed();
        match fitted {
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
        let start = Instant::now();
        let restored = restore(&a.crop)?;
        times.restore += start.elapsed();
        if let Some(dir) = &options.save_faces {
            save_crop(dir, *i, "aligned", &a.crop)?;
            save_crop(dir, *i, "restored", &restored)?;
        }
        let paste = PasteOptions {
            mask: options.blend,
            mode: options.paste,
            amount: options.blend_amount,
        };
        let start = Instant::now();
        paste_restored(&mut image, &restored, a, &paste);
        times.paste += start.elapsed();
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
                FaceOutcome::Restored => [0, 255, 0],
                _ => [255, 0, 0],
            };
            crate::display::mark_face(&mut image, face, colour);
        }
    }
    if is_grayscale(photo) {
        // A network trained on colour faces puts colour into a grey face; a grey photo stays grey.
        to_grayscale(&mut image);
    }
    Ok(PhotoOutput { image, faces })
}

/// True when every pixel of `image` has R = G = B (a grayscale photo decoded to RGB).
pub fn is_grayscale(image: &RgbImage) -> bool {
    image.pixels().all(|p| p[0] == p[1] && p[1] == p[2])
}

/// Replaces every pixel by its Rec. 601 luma (rounded), in place.
pub fn to_grayscale(image: &mut RgbImage) {
    for p in image.pixels_mut() {
        let y = 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
        let y = y.round().clamp(0.0, 255.0) as u8;
        *p = Rgb([y, y, y]);
    }
}

fn save_crop(dir: &Path, index: usize, what: &str, crop: &RgbImage) -> Result<()> {
    crate::image_io::write_rgb(&dir.join(format!("face-{index:02}-{what}.png")), crop)
}

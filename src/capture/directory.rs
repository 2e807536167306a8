//! A directory of PNG/JPEG images played in name order, looped forever.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use image::imageops::FilterType;
use image::RgbImage;

use super::{CaptureError, FrameSource, Pacer};

/// See the module documentation.
pub struct DirectorySource {
    dir: PathBuf,
    files: Vec<PathBuf>,
    next: usize,
    size: Option<(u32, u32)>,
    pacer: Pacer,
}

impl DirectorySource {
    /// Lists `dir`; frames are fitted into `size` when given and different (aspect kept, black
    /// borders, [`letterbox`]). Fails if the directory
    /// has no `.png`/`.jpg`/`.jpeg` file.
    pub fn open(
        dir: &Path,
        size: Option<(u32, u32)>,
        fps: Option<f32>,
    ) -> Result<Self, CaptureError> {
        let io = |source| CaptureError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if crate::image_io::has_image_extension(&path) {
                files.push(path);
            }
        }
        files.sort();
        if files.is_empty() {
            return Err(CaptureError::Decode {
                path: dir.to_path_buf(),
                problem: "no .png/.jpg/.jpeg images in this directory".into(),
            });
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            files,
            next: 0,
            size,
            pacer: Pacer::new(fps),
        })
    }
}

/// `image` fitted into `width` x `height` keeping its aspect ratio, centred on black (a portrait
/// is not stretched into a landscape frame).
pub fn letterbox(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    let (iw, ih) = (image.width().max(1) as f32, image.height().max(1) as f32);
    let scale = (width as f32 / iw).min(height as f32 / ih);
    let (fw, fh) = (
        ((iw * scale).round() as u32).clamp(1, width.max(1)),
        ((ih * scale).round() as u32).clamp(1, height.max(1)),
    );
    let fitted = image::imageops::resize(image, fw, fh, FilterType::Triangle);
    let mut frame = RgbImage::new(width, height);
    image::imageops::replace(
        &mut frame,
        &fitted,
        i64::from((width - fw) / 2),
        i64::from((height - fh) / 2),
    );
    frame
}

impl FrameSource for DirectorySource {
    fn next_frame(&mut self) -> Result<RgbImage, CaptureError> {
        self.pacer.wait();
        let path = &self.files[self.next % self.files.len()];
        self.next = (self.next + 1) % self.files.len();
        // The same reader as every other image input: pixel limit before decoding, truncation
        // check, EXIF orientation.
        let image = crate::image_io::read_rgb(path).map_err(CaptureError::Image)?;
        Ok(match self.size {
            Some((w, h)) if (w, h) != image.dimensions() => letterbox(&image, w, h),
            _ => image,
        })
    }

    fn watch_stop(&mut self, stop: Arc<AtomicBool>) {
        self.pacer.watch_stop(stop);
    }

    /// Every image failed in a row (and at least 3 tries): the whole lap is unreadable.
    fn max_failures_in_a_row(&self) -> Option<u32> {
        Some(u32::try_from(self.files.len()).unwrap_or(u32::MAX).max(3))
    }

    fn describe(&self) -> String {
        format!(
            "directory {} ({} images, looped)",
            self.dir.display(),
            self.files.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_square_picture_is_fitted_into_a_landscape_frame_without_stretching() {
        let square = RgbImage::from_pixel(512, 512, image::Rgb([200, 100, 50]));
        let frame = letterbox(&square, 640, 480);
        assert_eq!(frame.dimensions(), (640, 480));
        // 480x480 in the middle, black bars of 80 px left and right
        assert_eq!(frame.get_pixel(79, 240).0, [0, 0, 0]);
        assert_eq!(frame.get_pixel(80, 240).0, [200, 100, 50]);
        assert_eq!(frame.get_pixel(559, 0).0, [200, 100, 50]);
        assert_eq!(frame.get_pixel(560, 240).0, [0, 0, 0]);
    }
}

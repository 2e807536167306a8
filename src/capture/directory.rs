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
    /// Lists `dir`; frames are resized to `size` when given and different. Fails if the directory
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

impl FrameSource for DirectorySource {
    fn next_frame(&mut self) -> Result<RgbImage, CaptureError> {
        self.pacer.wait();
        let path = &self.files[self.next % self.files.len()];
        self.next = (self.next + 1) % self.files.len();
        // The same reader as every other image input: pixel limit before decoding, truncation
        // check, EXIF orientation.
        let image = crate::image_io::read_rgb(path).map_err(CaptureError::Image)?;
        Ok(match self.size {
            Some((w, h)) if (w, h) != image.dimensions() => {
                image::imageops::resize(&image, w, h, FilterType::Triangle)
            }
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

//! Headless sinks: PNG snapshots every N frames, or nothing at all.

use std::path::PathBuf;

use image::{ImageFormat, RgbImage};

use crate::atomic::AtomicWriteError;

use super::{render, DisplayError, DisplaySink, Overlay, RgbCanvas};

/// Writes every `every`-th presented frame (overlays included) to `dir/frame-NNNNNN.png`, each
/// atomically (complete or absent).
pub struct PngSnapshots {
    dir: PathBuf,
    every: u32,
    shown: u64,
    canvas: RgbImage,
}

impl PngSnapshots {
    /// Snapshots into `dir` (created on the first write).
    pub fn new(dir: PathBuf, every: u32) -> Self {
        Self {
            dir,
            every: every.max(1),
            shown: 0,
            canvas: RgbImage::new(0, 0),
        }
    }
}

impl DisplaySink for PngSnapshots {
    fn show(&mut self, frame: &RgbImage, overlay: &Overlay) -> Result<(), DisplayError> {
        let index = self.shown;
        self.shown += 1;
        if index % self.every as u64 != 0 {
            return Ok(());
        }
        if self.canvas.dimensions() != frame.dimensions() {
            self.canvas = RgbImage::new(frame.width(), frame.height());
        }
        let Ok(()) = render(&mut RgbCanvas(&mut self.canvas), frame, overlay);
        let write = |problem: String| DisplayError::Write {
            path: self.dir.clone(),
            problem,
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| write(e.to_string()))?;
        let path = self.dir.join(format!("frame-{index:06}.png"));
        // Atomic: a full disk or a stop mid-write never leaves a truncated snapshot.
        let canvas = &self.canvas;
        crate::atomic::write_atomically(&path, |w| canvas.write_to(w, ImageFormat::Png)).map_err(
            |e| {
                let problem = match e {
                    AtomicWriteError::Io(e) => e.to_string(),
                    AtomicWriteError::Content(e) => e.to_string(),
                };
                write(format!("{}: {problem}", path.display()))
            },
        )
    }

    fn describe(&self) -> String {
        format!(
            "PNG snapshots every {} frames into {}",
            self.every,
            self.dir.display()
        )
    }
}

/// Shows nothing; the live loop still counts the frames.
#[derive(Debug, Default)]
pub struct NullDisplay;

impl DisplaySink for NullDisplay {
    fn show(&mut self, _frame: &RgbImage, _overlay: &Overlay) -> Result<(), DisplayError> {
        Ok(())
    }

    fn describe(&self) -> String {
        "none (headless, frames counted only)".into()
    }
}

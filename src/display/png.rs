//! Headless sinks: PNG snapshots every N frames, or nothing at all.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use image::{ImageFormat, RgbImage};

use crate::atomic::AtomicWriteError;

use super::{render, DisplayError, DisplaySink, Overlay, RgbCanvas};

/// Writes every `every`-th presented frame (overlays included) to `dir/frame-NNNNNN.png`, each
/// atomically (complete or absent), and keeps only the newest `keep` of them: a ring, so a kiosk
/// that runs for months never fills its disk. Numbers go on after a restart (from the highest
/// snapshot already in `dir`), and snapshots of an earlier run count towards `keep`.
pub struct PngSnapshots {
    dir: PathBuf,
    every: u32,
    keep: usize,
    shown: u64,
    next_number: u64,
    written: Option<VecDeque<PathBuf>>,
    canvas: RgbImage,
}

impl PngSnapshots {
    /// Snapshots into `dir` (created on the first write), at most `keep` of them.
    pub fn new(dir: PathBuf, every: u32, keep: u32) -> Self {
        Self {
            dir,
            every: every.max(1),
            keep: keep.max(1) as usize,
            shown: 0,
            next_number: 0,
            written: None,
            canvas: RgbImage::new(0, 0),
        }
    }

    /// The snapshots already in `dir`, oldest first, and the number after the highest.
    fn existing(dir: &Path) -> (VecDeque<PathBuf>, u64) {
        let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name();
                let number = name
                    .to_str()?
                    .strip_prefix("frame-")?
                    .strip_suffix(".png")?
                    .parse()
                    .ok()?;
                Some((number, e.path()))
            })
            .collect();
        found.sort();
        let next = found.last().map_or(0, |(n, _)| n + 1);
        (found.into_iter().map(|(_, p)| p).collect(), next)
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
        if self.written.is_none() {
            let (old, next) = Self::existing(&self.dir);
            self.written = Some(old);
            self.next_number = next;
        }
        let path = self.dir.join(format!("frame-{:06}.png", self.next_number));
        self.next_number += 1;
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
        )?;
        let ring = self.written.get_or_insert_with(VecDeque::new);
        ring.push_back(path);
        while ring.len() > self.keep {
            if let Some(old) = ring.pop_front() {
                if let Err(e) = std::fs::remove_file(&old) {
                    log::warn!("{}: cannot delete an old snapshot: {e}", old.display());
                }
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "PNG snapshots every {} frames into {} (the newest {} kept)",
            self.every,
            self.dir.display(),
            self.keep
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn snapshots_are_a_ring_that_survives_a_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let frame = RgbImage::new(8, 8);
        let overlay = Overlay::default();
        let mut sink = PngSnapshots::new(dir.path().to_path_buf(), 2, 3);
        for _ in 0..14 {
            sink.show(&frame, &overlay).expect("show");
        }
        // 7 snapshots written (every 2nd of 14 frames), the newest 3 kept
        assert_eq!(
            names(dir.path()),
            ["frame-000004.png", "frame-000005.png", "frame-000006.png"]
        );
        // a restart numbers on and counts the old snapshots towards the limit
        let mut again = PngSnapshots::new(dir.path().to_path_buf(), 1, 3);
        again.show(&frame, &overlay).expect("show");
        assert_eq!(
            names(dir.path()),
            ["frame-000005.png", "frame-000006.png", "frame-000007.png"]
        );
    }
}

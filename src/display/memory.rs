//! An in-memory display for tests: keeps the most recent presented frames.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use image::RgbImage;

use super::{render, DisplayError, DisplaySink, Overlay, RgbCanvas};

/// Shared view of what a [`MemoryDisplay`] showed.
#[derive(Debug, Clone, Default)]
pub struct MemoryFrames {
    inner: Arc<Mutex<MemoryState>>,
}

#[derive(Debug, Default)]
struct MemoryState {
    frames: VecDeque<(RgbImage, Overlay)>,
    shown: u64,
}

impl MemoryFrames {
    /// How many frames were presented in total.
    pub fn shown(&self) -> u64 {
        self.inner.lock().map(|s| s.shown).unwrap_or(0)
    }

    /// The kept frames (oldest first) with the overlay each was drawn with.
    pub fn frames(&self) -> Vec<(RgbImage, Overlay)> {
        self.inner
            .lock()
            .map(|s| s.frames.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// See the module documentation.
pub struct MemoryDisplay {
    keep: usize,
    frames: MemoryFrames,
}

impl MemoryDisplay {
    /// A display that keeps the last `keep` frames; read them through the returned handle.
    pub fn new(keep: usize) -> (Self, MemoryFrames) {
        let frames = MemoryFrames::default();
        (
            Self {
                keep,
                frames: frames.clone(),
            },
            frames,
        )
    }
}

impl DisplaySink for MemoryDisplay {
    fn show(&mut self, frame: &RgbImage, overlay: &Overlay) -> Result<(), DisplayError> {
        let mut out = RgbImage::new(frame.width(), frame.height());
        let Ok(()) = render(&mut RgbCanvas(&mut out), frame, overlay);
        let mut state = self.frames.inner.lock().map_err(|_| DisplayError::Write {
            path: "memory".into(),
            problem: "lock poisoned".into(),
        })?;
        state.shown += 1;
        if self.keep > 0 {
            if state.frames.len() == self.keep {
                state.frames.pop_front();
            }
            state.frames.push_back((out, overlay.clone()));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("memory (keeps {} frames)", self.keep)
    }
}

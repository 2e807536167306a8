//! Display sinks for the live mode. Every sink is an embedded-graphics `DrawTarget` (or owns one):
//! the frame is blitted and the overlays (FPS, stage timings, face boxes, before/after split,
//! NO SIGNAL) are drawn with embedded-graphics by [`render`], the same code on every sink.

mod canvas;
#[cfg(target_os = "linux")]
mod framebuffer;
mod memory;
mod overlay;
mod png;
#[cfg(feature = "simulator")]
mod window;

use std::path::PathBuf;

use image::RgbImage;

pub use canvas::RgbCanvas;
#[cfg(target_os = "linux")]
pub use framebuffer::{FramebufferDisplay, PixelLayout};
pub use memory::{MemoryDisplay, MemoryFrames};
pub use overlay::{render, FaceBox, Overlay};
pub use png::{NullDisplay, PngSnapshots};
#[cfg(feature = "simulator")]
pub use window::WindowDisplay;

use crate::config::{DisplayConfig, DisplayKind, OnMissingDisplay};

/// A failure of a display sink.
#[derive(Debug, thiserror::Error)]
pub enum DisplayError {
    /// The display device could not be opened.
    #[error("{path}: cannot open display: {problem}")]
    Open {
        /// Device or directory.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// A frame could not be written.
    #[error("{path}: cannot write frame: {problem}")]
    Write {
        /// Device or file.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// The user closed the window.
    #[error("display window closed")]
    Closed,
}

/// Where composed frames go.
pub trait DisplaySink: Send {
    /// Draws `frame` and `overlay` and presents them.
    fn show(&mut self, frame: &RgbImage, overlay: &Overlay) -> Result<(), DisplayError>;

    /// One line for logs.
    fn describe(&self) -> String;
}

/// Opens the sink a profile's `[display]` section describes. When the display cannot be opened
/// and `on_missing = "headless"`, logs a warning and returns a headless sink (PNG snapshots if
/// `png_dir` is set, else a counting-only sink) instead of failing.
pub fn open_display(config: &DisplayConfig) -> Result<Box<dyn DisplaySink>, DisplayError> {
    let opened = match config.kind {
        DisplayKind::Png | DisplayKind::None => return Ok(headless(config)),
        DisplayKind::Framebuffer => open_framebuffer(config),
        DisplayKind::Window => open_window(),
    };
    match (opened, config.on_missing) {
        (Ok(sink), _) => Ok(sink),
        (Err(e), OnMissingDisplay::Exit) => Err(e),
        (Err(e), OnMissingDisplay::Headless) => {
            log::warn!("{e}; running headless (display.on_missing = \"headless\")");
            Ok(headless(config))
        }
    }
}

fn headless(config: &DisplayConfig) -> Box<dyn DisplaySink> {
    match (&config.kind, &config.png_dir) {
        (DisplayKind::None, _) | (_, None) => Box::new(NullDisplay::default()),
        (_, Some(dir)) => Box::new(PngSnapshots::new(dir.clone(), config.png_every)),
    }
}

#[cfg(target_os = "linux")]
fn open_framebuffer(config: &DisplayConfig) -> Result<Box<dyn DisplaySink>, DisplayError> {
    Ok(Box::new(FramebufferDisplay::open(&config.device)?))
}

#[cfg(not(target_os = "linux"))]
fn open_framebuffer(config: &DisplayConfig) -> Result<Box<dyn DisplaySink>, DisplayError> {
    Err(DisplayError::Open {
        path: config.device.clone(),
        problem: "the Linux framebuffer exists only on Linux".into(),
    })
}

#[cfg(feature = "simulator")]
fn open_window() -> Result<Box<dyn DisplaySink>, DisplayError> {
    Ok(Box::new(WindowDisplay::new()))
}

#[cfg(not(feature = "simulator"))]
fn open_window() -> Result<Box<dyn DisplaySink>, DisplayError> {
    Err(DisplayError::Open {
        path: "window".into(),
        problem: "display.kind = \"window\" needs a build with the `simulator` feature".into(),
    })
}

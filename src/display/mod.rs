//! Display sinks for the live mode. Every sink is an embedded-graphics `DrawTarget` (or owns one):
//! the frame is blitted and the overlays (FPS, stage timings, face boxes, before/after split,
//! NO SIGNAL) are drawn with embedded-graphics by [`render`], the same code on every sink.
//!
//! The layer knows nothing of profiles: [`open_display`] takes its own [`DisplayOptions`], which
//! the configuration converts its `[display]` section into.

mod canvas;
#[cfg(target_os = "linux")]
mod framebuffer;
mod memory;
mod overlay;
mod png;
mod raster;
#[cfg(test)]
mod testing;
#[cfg(unix)]
mod watchdog;
#[cfg(feature = "simulator")]
mod window;
mod y4m;

use std::path::PathBuf;

use image::RgbImage;

pub use canvas::RgbCanvas;
#[cfg(target_os = "linux")]
pub use framebuffer::{FramebufferDisplay, PixelLayout};
pub use memory::{MemoryDisplay, MemoryFrames};
pub use overlay::{mark_face, render, FaceBox, Overlay};
pub use png::{NullDisplay, PngSnapshots};
#[cfg(unix)]
pub use watchdog::{NotifySocket, WatchdogDisplay, PING_EVERY};
#[cfg(feature = "simulator")]
pub use window::WindowDisplay;
pub use y4m::{Y4mWriteError, Y4mWriter};

/// Which sink [`open_display`] opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkKind {
    /// The Linux framebuffer device in [`DisplayOptions::device`].
    Framebuffer,
    /// A desktop window (needs the `simulator` cargo feature).
    Window,
    /// PNG snapshots into [`DisplayOptions::png_dir`], no screen.
    Png,
    /// Nothing shown; frames are counted only.
    None,
}

/// What [`open_display`] does when the framebuffer or window cannot be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnMissing {
    /// Log a warning and return a headless sink (PNG snapshots if a directory is set, else none).
    Headless,
    /// Return the error.
    Exit,
}

/// Everything [`open_display`] needs to choose and open a sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayOptions {
    /// Which sink to open.
    pub kind: SinkKind,
    /// Framebuffer device, e.g. `/dev/fb0` (kind = framebuffer).
    pub device: PathBuf,
    /// Directory for PNG snapshots (kind = png, or the headless fallback); `None`: no snapshots.
    pub png_dir: Option<PathBuf>,
    /// Write one snapshot every this many shown frames (0 is taken as 1).
    pub png_every: u32,
    /// Keep at most this many snapshots (0 is taken as 1); the oldest go first.
    pub png_keep: u32,
    /// What to do when the framebuffer or window cannot be opened.
    pub on_missing: OnMissing,
}

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

/// Opens the sink `options` describe. When the framebuffer or window cannot be opened and
/// `on_missing` is [`OnMissing::Headless`], logs a warning and returns a headless sink (PNG
/// snapshots if `png_dir` is set, else a counting-only sink) instead of failing.
pub fn open_display(options: &DisplayOptions) -> Result<Box<dyn DisplaySink>, DisplayError> {
    let opened = match options.kind {
        SinkKind::Png | SinkKind::None => return Ok(headless(options)),
        SinkKind::Framebuffer => open_framebuffer(options),
        SinkKind::Window => open_window(),
    };
    match (opened, options.on_missing) {
        (Ok(sink), _) => Ok(sink),
        (Err(e), OnMissing::Exit) => Err(e),
        (Err(e), OnMissing::Headless) => {
            log::warn!("{e}; running headless (display.on_missing = \"headless\")");
            Ok(headless(options))
        }
    }
}

fn headless(options: &DisplayOptions) -> Box<dyn DisplaySink> {
    match (options.kind, &options.png_dir) {
        (SinkKind::None, _) | (_, None) => Box::new(NullDisplay),
        (_, Some(dir)) => Box::new(PngSnapshots::new(
            dir.clone(),
            options.png_every,
            options.png_keep,
        )),
    }
}

#[cfg(target_os = "linux")]
fn open_framebuffer(options: &DisplayOptions) -> Result<Box<dyn DisplaySink>, DisplayError> {
    Ok(Box::new(FramebufferDisplay::open(&options.device)?))
}

#[cfg(not(target_os = "linux"))]
fn open_framebuffer(options: &DisplayOptions) -> Result<Box<dyn DisplaySink>, DisplayError> {
    Err(DisplayError::Open {
        path: options.device.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn options(kind: SinkKind, on_missing: OnMissing, png_dir: Option<&str>) -> DisplayOptions {
        DisplayOptions {
            kind,
            device: PathBuf::from("/nonexistent/fb9"),
            png_dir: png_dir.map(PathBuf::from),
            png_every: 3,
            png_keep: 5,
            on_missing,
        }
    }

    fn describe(options: &DisplayOptions) -> String {
        match open_display(options) {
            Ok(sink) => sink.describe(),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn headless_kinds_open_without_a_device() {
        let exit = OnMissing::Exit;
        assert!(describe(&options(SinkKind::None, exit, Some("/tmp/x"))).starts_with("none"));
        assert_eq!(
            describe(&options(SinkKind::Png, exit, Some("/tmp/x"))),
            "PNG snapshots every 3 frames into /tmp/x (the newest 5 kept)"
        );
        assert!(describe(&options(SinkKind::Png, exit, None)).starts_with("none"));
    }

    #[test]
    fn missing_framebuffer_falls_back_or_fails() {
        let headless = OnMissing::Headless;
        assert!(
            describe(&options(SinkKind::Framebuffer, headless, Some("/tmp/x"))).contains("PNG")
        );
        assert!(describe(&options(SinkKind::Framebuffer, headless, None)).starts_with("none"));
        let e = describe(&options(SinkKind::Framebuffer, OnMissing::Exit, None));
        assert!(e.starts_with("error: /nonexistent/fb9"), "{e}");
    }

    #[cfg(not(feature = "simulator"))]
    #[test]
    fn window_without_the_simulator_feature() {
        let e = describe(&options(SinkKind::Window, OnMissing::Exit, None));
        assert!(e.contains("simulator"), "{e}");
        let sink = describe(&options(SinkKind::Window, OnMissing::Headless, None));
        assert!(sink.starts_with("none"), "{sink}");
    }
}

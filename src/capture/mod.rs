//! Frame sources for the live mode: a V4L2 camera (feature `camera`), a looping image directory, a
//! looping Y4M video and a deterministic synthetic source built from the bundled face image.

mod directory;
mod pacing;
mod synthetic;
mod video;
pub mod yuv;

#[cfg(feature = "camera")]
mod camera;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use image::RgbImage;

#[cfg(feature = "camera")]
pub use camera::CameraSource;
pub use directory::DirectorySource;
pub use pacing::{Pacer, STOP_POLL};
pub use synthetic::{SyntheticFace, SyntheticSource, ASTRONAUT_PNG};
pub use video::Y4mSource;

use crate::config::{SourceConfig, SourceKind};

/// A failure of a frame source. The live loop retries these with backoff and shows NO SIGNAL.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The device or file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// Device or file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The source delivered data that could not be turned into a frame.
    #[error("{path}: {problem}")]
    Decode {
        /// Device or file.
        path: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// The source kind is not available in this build or on this system.
    #[error("{0}")]
    Unsupported(String),
}

/// One captured frame with its sequence number and capture time.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The pixels (shared: the restore workers read the same frame).
    pub image: Arc<RgbImage>,
    /// 0, 1, 2, ... in capture order; gaps never occur (dropped frames keep their numbers).
    pub seq: u64,
    /// When the source delivered it.
    pub captured_at: Instant,
    /// Where the faces really are, for sources that know (synthetic); empty otherwise.
    pub truth: Vec<SyntheticFace>,
}

/// Anything that delivers RGB frames, one call at a time, blocking until the next frame is due.
pub trait FrameSource: Send {
    /// Blocks until the next frame and returns it.
    fn next_frame(&mut self) -> Result<RgbImage, CaptureError>;

    /// Called by the live loop after an error, before trying `next_frame` again; a camera reopens
    /// its device here. Sources that cannot fail this way keep the default.
    fn reconnect(&mut self) -> Result<(), CaptureError> {
        Ok(())
    }

    /// Hands the source the live loop's stop flag: a source that waits for its next frame (a paced
    /// file or synthetic source) wakes within [`STOP_POLL`] once it is set, so a stop
    /// never waits for a slow frame. Sources that do not wait keep the default (ignored).
    fn watch_stop(&mut self, _stop: Arc<AtomicBool>) {}

    /// Failures in a row after which the live loop gives up on this source with an error instead
    /// of retrying: files that cannot be read now will not be readable on the next lap. `None`
    /// (the default, a camera) retries with back-off forever.
    fn max_failures_in_a_row(&self) -> Option<u32> {
        None
    }

    /// Ground-truth faces of the frame `next_frame` just returned (synthetic source only).
    fn last_truth(&self) -> Vec<SyntheticFace> {
        Vec::new()
    }

    /// One line for logs: kind, path, size.
    fn describe(&self) -> String;
}

/// Opens the source a profile's `[source]` section describes.
pub fn open_source(config: &SourceConfig) -> Result<Box<dyn FrameSource>, CaptureError> {
    let path = || config.path.clone().unwrap_or_default();
    match config.kind {
        SourceKind::Synthetic => Ok(Box::new(SyntheticSource::new(
            config.width,
            config.height,
            config.faces,
            config.seed,
            config.realtime.then_some(config.fps),
        )?)),
        SourceKind::Directory => Ok(Box::new(DirectorySource::open(
            &path(),
            Some((config.width, config.height)),
            config.realtime.then_some(config.fps),
        )?)),
        SourceKind::Video => Ok(Box::new(Y4mSource::open(
            &path(),
            config.realtime.then_some(config.fps),
        )?)),
        SourceKind::Camera => open_camera(config),
    }
}

#[cfg(feature = "camera")]
fn open_camera(config: &SourceConfig) -> Result<Box<dyn FrameSource>, CaptureError> {
    let device = config
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from("/dev/video0"));
    Ok(Box::new(CameraSource::open(
        device,
        config.width,
        config.height,
        config.fps,
        config.format,
    )?))
}

#[cfg(not(feature = "camera"))]
fn open_camera(_config: &SourceConfig) -> Result<Box<dyn FrameSource>, CaptureError> {
    Err(CaptureError::Unsupported(
        "source.kind = \"camera\" needs a build with the `camera` feature: cargo build --release --features camera".into(),
    ))
}

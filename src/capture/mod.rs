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
pub use synthetic::{SyntheticFace, SyntheticSource, TruthFeed, SYNTHETIC_FACE_PNG};
pub use video::{Chroma, Y4mFormat, Y4mFrame, Y4mReader, Y4mSource};

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
    /// An image file of a directory source could not be read (the error names the file).
    #[error(transparent)]
    Image(crate::Error),
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

    /// One line for logs: kind, path, size.
    fn describe(&self) -> String;
}

/// Pixel format asked of a V4L2 camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PixelFormat {
    /// Packed 4:2:2 YUV (every UVC camera has it; USB bandwidth limits it at high resolutions).
    Yuyv,
    /// Motion JPEG, decoded on the CPU.
    #[default]
    Mjpeg,
}

/// What to ask of a V4L2 camera.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraOptions {
    /// Device node, e.g. `/dev/video0`.
    pub device: PathBuf,
    /// Requested width in pixels.
    pub width: u32,
    /// Requested height in pixels.
    pub height: u32,
    /// Requested frames per second.
    pub fps: f32,
    /// Requested pixel format.
    pub format: PixelFormat,
}

/// Which frame source to open, and how: what [`open_source`] needs, independent of where the
/// settings came from (a board profile converts into it).
#[derive(Debug, Clone, PartialEq)]
pub enum SourceOptions {
    /// A V4L2 camera (needs the `camera` cargo feature).
    Camera(CameraOptions),
    /// A directory of PNG/JPEG images, played in name order and looped.
    Directory {
        /// The directory.
        path: PathBuf,
        /// Frames are resized to this size when they differ.
        size: (u32, u32),
        /// Pace in frames per second (`None`: as fast as possible).
        fps: Option<f32>,
    },
    /// A Y4M video file, looped.
    Video {
        /// The file.
        path: PathBuf,
        /// Pace in frames per second (`None`: as fast as possible).
        fps: Option<f32>,
    },
    /// Moving, scaled, noisy and blurred copies of the bundled face image.
    Synthetic {
        /// Frame width in pixels.
        width: u32,
        /// Frame height in pixels.
        height: u32,
        /// Number of faces.
        faces: u32,
        /// Seed of the noise and the motion.
        seed: u64,
        /// Pace in frames per second (`None`: as fast as possible).
        fps: Option<f32>,
    },
}

impl SourceOptions {
    /// The nominal frame rate of this source (for smoothing), `fallback` when it runs unpaced.
    pub fn nominal_fps(&self, fallback: f32) -> f32 {
        match self {
            SourceOptions::Camera(camera) => camera.fps,
            SourceOptions::Directory { fps, .. }
            | SourceOptions::Video { fps, .. }
            | SourceOptions::Synthetic { fps, .. } => fps.unwrap_or(fallback),
        }
    }
}

/// Opens the source `options` describe.
pub fn open_source(options: &SourceOptions) -> Result<Box<dyn FrameSource>, CaptureError> {
    match options {
        SourceOptions::Synthetic {
            width,
            height,
            faces,
            seed,
            fps,
        } => Ok(Box::new(SyntheticSource::new(
            *width, *height, *faces, *seed, *fps,
        )?)),
        SourceOptions::Directory { path, size, fps } => {
            Ok(Box::new(DirectorySource::open(path, Some(*size), *fps)?))
        }
        SourceOptions::Video { path, fps } => Ok(Box::new(Y4mSource::open(path, *fps)?)),
        SourceOptions::Camera(camera) => open_camera(camera),
    }
}

#[cfg(feature = "camera")]
fn open_camera(camera: &CameraOptions) -> Result<Box<dyn FrameSource>, CaptureError> {
    Ok(Box::new(CameraSource::open(
        camera.device.clone(),
        camera.width,
        camera.height,
        camera.fps,
        camera.format,
    )?))
}

#[cfg(not(feature = "camera"))]
fn open_camera(_camera: &CameraOptions) -> Result<Box<dyn FrameSource>, CaptureError> {
    Err(CaptureError::Unsupported(
        "source.kind = \"camera\" needs a build with the `camera` feature: cargo build --release --features camera".into(),
    ))
}

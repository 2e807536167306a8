//! Video restoration (`daefr restore in.y4m -o out.y4m`): every frame of a Y4M stream, in order,
//! none dropped, with the faces followed across frames by the live loop's tracker (One-Euro
//! smoothing of boxes and keypoints, so the aligned crop does not jitter). Outside the restored
//! faces the output is the input bit for bit ([`crate::display::Y4mWriter`]).

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::capture::{CaptureError, Y4mReader};
use crate::display::{Y4mWriteError, Y4mWriter};
use crate::photo::{FacePipeline, PhotoOptions, StageTimes};
use crate::track::{Tracker, TrackerConfig};

/// A failed video restoration.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// The input stream could not be read.
    #[error(transparent)]
    Read(#[from] CaptureError),
    /// The output stream could not be written.
    #[error(transparent)]
    Write(#[from] Y4mWriteError),
    /// Detecting or restoring a frame failed.
    #[error("frame {frame}: {source}")]
    Frame {
        /// The frame (0 = first).
        frame: u64,
        /// What failed.
        source: crate::Error,
    },
    /// A stop was asked for (SIGINT, SIGTERM) after `frames` frames.
    #[error("stopped after {frames} frame(s)")]
    Stopped {
        /// Frames written.
        frames: u64,
    },
}

/// What a video restoration did.
#[derive(Debug, Clone, Default)]
pub struct VideoReport {
    /// Frames read and written.
    pub frames: u64,
    /// Frames in which at least one face was restored.
    pub frames_with_faces: u64,
    /// Faces restored over all frames.
    pub faces: u64,
    /// Detect, align, restore and paste times over all frames.
    pub times: StageTimes,
}

/// Restores every frame of `reader` into `output` (a Y4M stream of the same size, rate and
/// colour sampling), calling `progress` with the frames done after each one. Stops between frames
/// once `stop` is set ([`VideoError::Stopped`]).
pub fn restore_video<R: Read, W: Write>(
    reader: &mut Y4mReader<R>,
    output: W,
    pipeline: &mut FacePipeline,
    options: &PhotoOptions,
    stop: &AtomicBool,
    mut progress: impl FnMut(u64),
) -> Result<VideoReport, VideoError> {
    let (num, den) = reader.framerate();
    let fps = if num > 0 && den > 0 {
        num as f32 / den as f32
    } else {
        TrackerConfig::default().fps
    };
    let mut tracker = Tracker::new(TrackerConfig {
        fps,
        ..TrackerConfig::default()
    });
    let mut writer = Y4mWriter::new(output, reader.format())?;
    let mut report = VideoReport::default();
    while let Some(frame) = reader.read()? {
        if stop.load(Ordering::Relaxed) {
            return Err(VideoError::Stopped {
                frames: report.frames,
            });
        }
        let seq = report.frames;
        let out = pipeline
            .run_tracked(&frame.rgb, &mut tracker, seq, options, &mut report.times)
            .map_err(|source| VideoError::Frame { frame: seq, source })?;
        writer.write(&frame, &out.image)?;
        let restored = out.restored() as u64;
        report.faces += restored;
        report.frames_with_faces += u64::from(restored > 0);
        report.frames += 1;
        progress(report.frames);
    }
    Ok(report)
}

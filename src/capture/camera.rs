//! V4L2 camera capture (feature `camera`): memory-mapped streaming, YUYV or MJPEG.
//! Kept thin on purpose: the machines this is developed on have no camera, so everything past
//! "bytes of one frame" is shared with (and tested through) the other sources.

use std::path::PathBuf;
use std::time::Duration;

use image::RgbImage;
use v4l::buffer::Type;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::capture::Parameters;
use v4l::video::Capture;
use v4l::{Device, Format, FourCC};

use super::yuv::camera_frame_to_rgb;
use super::PixelFormat;
use super::{CaptureError, FrameSource};

/// Buffers the driver fills in turn; 4 keeps latency low and survives a slow consumer.
const BUFFERS: u32 = 4;
/// A camera that delivers nothing for this long is treated as gone.
const FRAME_TIMEOUT: Duration = Duration::from_secs(2);

/// An open V4L2 capture device streaming into memory-mapped buffers.
pub struct CameraSource {
    stream: Option<Stream<'static>>,
    device: PathBuf,
    request: (u32, u32, f32, PixelFormat),
    size: (u32, u32),
    fourcc: FourCC,
}

impl CameraSource {
    /// Opens `device` and asks for `width` x `height` at `fps` in `format`; the driver may pick
    /// the nearest size it has, which is then what frames have.
    pub fn open(
        device: PathBuf,
        width: u32,
        height: u32,
        fps: f32,
        format: PixelFormat,
    ) -> Result<Self, CaptureError> {
        let mut camera = Self {
            stream: None,
            device,
            request: (width, height, fps, format),
            size: (width, height),
            fourcc: FourCC::new(b"YUYV"),
        };
        camera.start()?;
        Ok(camera)
    }

    fn io(&self, source: std::io::Error) -> CaptureError {
        CaptureError::Io {
            path: self.device.clone(),
            source,
        }
    }

    fn start(&mut self) -> Result<(), CaptureError> {
        self.stream = None;
        let (width, height, fps, format) = self.request;
        let dev = Device::with_path(&self.device).map_err(|e| self.io(e))?;
        let wanted = match format {
            PixelFormat::Yuyv => FourCC::new(b"YUYV"),
            PixelFormat::Mjpeg => FourCC::new(b"MJPG"),
        };
        let got = dev
            .set_format(&Format::new(width, height, wanted))
            .map_err(|e| self.io(e))?;
        if got.fourcc != wanted {
            return Err(CaptureError::Decode {
                path: self.device.clone(),
                problem: format!("camera offers {} instead of {}", got.fourcc, wanted),
            });
        }
        // Not every driver supports frame-rate control; the format is what matters.
        if let Err(e) = dev.set_params(&Parameters::with_fps(fps.round().max(1.0) as u32)) {
            log::warn!("{}: cannot set {fps} fps: {e}", self.device.display());
        }
        let mut stream =
            Stream::with_buffers(&dev, Type::VideoCapture, BUFFERS).map_err(|e| self.io(e))?;
        stream.set_timeout(FRAME_TIMEOUT);
        self.size = (got.width, got.height);
        self.fourcc = got.fourcc;
        self.stream = Some(stream);
        log::info!(
            "{}: streaming {}x{} {}",
            self.device.display(),
            got.width,
            got.height,
            got.fourcc
        );
        Ok(())
    }
}

impl FrameSource for CameraSource {
    fn next_frame(&mut self) -> Result<RgbImage, CaptureError> {
        let (width, height) = self.size;
        let mjpeg = self.fourcc == FourCC::new(b"MJPG");
        let device = self.device.clone();
        let stream = self.stream.as_mut().ok_or_else(|| CaptureError::Io {
            path: device.clone(),
            source: std::io::Error::new(std::io::ErrorKind::NotConnected, "camera not open"),
        })?;
        let (buffer, meta) = stream.next().map_err(|source| CaptureError::Io {
            path: device.clone(),
            source,
        })?;
        let used = (meta.bytesused as usize).min(buffer.len());
        let bytes = &buffer[..used];
        let format = if mjpeg {
            PixelFormat::Mjpeg
        } else {
            PixelFormat::Yuyv
        };
        camera_frame_to_rgb(bytes, width, height, format).map_err(|problem| CaptureError::Decode {
            path: device.clone(),
            problem,
        })
    }

    fn reconnect(&mut self) -> Result<(), CaptureError> {
        self.start()
    }

    fn describe(&self) -> String {
        format!(
            "camera {} {}x{} {}",
            self.device.display(),
            self.size.0,
            self.size.1,
            self.fourcc
        )
    }
}

//! Y4M (YUV4MPEG2) video files, looped. Y4M is raw planar YUV behind a one-line text header: it
//! needs no codec and no system library (the `y4m` crate parses it), `ffmpeg -i in.mp4 out.y4m`
//! makes one from anything, and decoding costs only a colour conversion, so a recorded clip
//! replays at camera speed on a Pi. MJPEG-in-AVI would be smaller but needs a RIFF parser as well.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use image::RgbImage;
use y4m::Colorspace;

use super::yuv::planar_to_rgb;
use super::{CaptureError, FrameSource, Pacer};

/// The y4m reader over a buffered file.
type Y4mDecoder = y4m::Decoder<BufReader<File>>;

/// Unreadable frames in a row (a file with no frames, a corrupt one) before the live loop gives up.
const MAX_FAILURES_IN_A_ROW: u32 = 3;

/// See the module documentation.
pub struct Y4mSource {
    path: PathBuf,
    decoder: y4m::Decoder<BufReader<File>>,
    subsampling: (usize, usize),
    pacer: Pacer,
}

impl Y4mSource {
    /// Opens `path`. `fps` paces playback (None: as fast as possible). 8-bit 4:2:0, 4:2:2, 4:4:4
    /// and mono files are accepted.
    pub fn open(path: &Path, fps: Option<f32>) -> Result<Self, CaptureError> {
        let (decoder, subsampling) = Self::decoder(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            decoder,
            subsampling,
            pacer: Pacer::new(fps),
        })
    }

    fn decoder(path: &Path) -> Result<(Y4mDecoder, (usize, usize)), CaptureError> {
        let file = File::open(path).map_err(|source| CaptureError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let decoder = y4m::decode(BufReader::new(file)).map_err(|e| CaptureError::Decode {
            path: path.to_path_buf(),
            problem: format!("not a Y4M file: {e}"),
        })?;
        let subsampling = match decoder.get_colorspace() {
            Colorspace::C420
            | Colorspace::C420jpeg
            | Colorspace::C420paldv
            | Colorspace::C420mpeg2 => (2, 2),
            Colorspace::C422 => (2, 1),
            Colorspace::C444 => (1, 1),
            Colorspace::Cmono => (0, 0),
            other => {
                return Err(CaptureError::Decode {
                    path: path.to_path_buf(),
                    problem: format!(
                        "colorspace {other:?} not supported; allowed: 8-bit 420, 422, 444, mono"
                    ),
                })
            }
        };
        Ok((decoder, subsampling))
    }

    fn read(&mut self) -> Result<Option<RgbImage>, CaptureError> {
        let (w, h) = (
            self.decoder.get_width() as u32,
            self.decoder.get_height() as u32,
        );
        let (sx, sy) = self.subsampling;
        let frame = match self.decoder.read_frame() {
            Ok(frame) => frame,
            Err(y4m::Error::EOF) => return Ok(None),
            Err(e) => {
                return Err(CaptureError::Decode {
                    path: self.path.clone(),
                    problem: e.to_string(),
                })
            }
        };
        let image = if sx == 0 {
            let y = frame.get_y_plane();
            RgbImage::from_fn(w, h, |x, r| {
                let v = y.get((r * w + x) as usize).copied().unwrap_or(16);
                image::Rgb(super::yuv::yuv_to_rgb(v, 128, 128))
            })
        } else {
            planar_to_rgb(
                frame.get_y_plane(),
                frame.get_u_plane(),
                frame.get_v_plane(),
                w,
                h,
                sx,
                sy,
            )
            .ok_or_else(|| CaptureError::Decode {
                path: self.path.clone(),
                problem: "truncated frame".into(),
            })?
        };
        Ok(Some(image))
    }
}

impl FrameSource for Y4mSource {
    fn next_frame(&mut self) -> Result<RgbImage, CaptureError> {
        self.pacer.wait();
        if let Some(image) = self.read()? {
            return Ok(image);
        }
        // End of file: start again from the top.
        let (decoder, subsampling) = Self::decoder(&self.path)?;
        self.decoder = decoder;
        self.subsampling = subsampling;
        self.read()?.ok_or_else(|| CaptureError::Decode {
            path: self.path.clone(),
            problem: "file has no frames".into(),
        })
    }

    fn watch_stop(&mut self, stop: Arc<AtomicBool>) {
        self.pacer.watch_stop(stop);
    }

    fn max_failures_in_a_row(&self) -> Option<u32> {
        Some(MAX_FAILURES_IN_A_ROW)
    }

    fn describe(&self) -> String {
        format!(
            "y4m {} ({}x{}, looped)",
            self.path.display(),
            self.decoder.get_width(),
            self.decoder.get_height()
        )
    }
}

//! Y4M (YUV4MPEG2) video files, looped. Y4M is raw planar YUV behind a one-line text header: it
//! needs no codec and no system library (the `y4m` crate parses it), `ffmpeg -i in.mp4 out.y4m`
//! makes one from anything, and decoding costs only a colour conversion, so a recorded clip
//! replays at camera speed on a Pi. MJPEG-in-AVI would be smaller but needs a RIFF parser as well.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use image::RgbImage;
use y4m::Colorspace;

use super::yuv::planar_to_rgb;
use super::{CaptureError, FrameSource, Pacer};

/// Unreadable frames in a row (a file with no frames, a corrupt one) before the live loop gives up.
const MAX_FAILURES_IN_A_ROW: u32 = 3;

/// The frames of one Y4M stream (a file, standard input), in order, as RGB, with each frame's
/// planes kept so that a writer can pass untouched pixels through unchanged.
pub struct Y4mReader<R: Read> {
    name: PathBuf,
    decoder: y4m::Decoder<R>,
    chroma: Chroma,
}

/// How a Y4M stream samples colour: every pixel, every 2x1 or 2x2 pixels, or not at all.
#[derive(Debug, Clone, Copy)]
pub struct Chroma {
    /// Horizontal and vertical subsampling (0, 0: monochrome).
    pub subsampling: (usize, usize),
    /// The header's colour space.
    pub colorspace: Colorspace,
}

/// What a Y4M header says: what a writer needs to produce a stream of the same kind.
#[derive(Debug, Clone, Copy)]
pub struct Y4mFormat {
    /// Width and height in pixels.
    pub size: (u32, u32),
    /// Frames per second (numerator, denominator).
    pub framerate: (usize, usize),
    /// Pixel aspect ratio (numerator, denominator; 0:0 unknown).
    pub pixel_aspect: (usize, usize),
    /// Colour sampling.
    pub chroma: Chroma,
}

/// One decoded frame: RGB, and the Y, U, V planes it came from (U and V empty in mono).
#[derive(Debug, Clone)]
pub struct Y4mFrame {
    /// The frame as RGB.
    pub rgb: RgbImage,
    /// The luma plane.
    pub y: Vec<u8>,
    /// The Cb plane, at the stream's subsampling.
    pub u: Vec<u8>,
    /// The Cr plane.
    pub v: Vec<u8>,
}

impl<R: Read> Y4mReader<R> {
    /// Reads the header from `reader`; `name` names the stream in errors. 8-bit 4:2:0, 4:2:2,
    /// 4:4:4 and mono streams are accepted.
    pub fn new(reader: R, name: &Path) -> Result<Self, CaptureError> {
        let decoder = y4m::decode(reader).map_err(|e| CaptureError::Decode {
            path: name.to_path_buf(),
            problem: format!("not a Y4M stream: {e}"),
        })?;
        let colorspace = decoder.get_colorspace();
        let subsampling = match colorspace {
            Colorspace::C420
            | Colorspace::C420jpeg
            | Colorspace::C420paldv
            | Colorspace::C420mpeg2 => (2, 2),
            Colorspace::C422 => (2, 1),
            Colorspace::C444 => (1, 1),
            Colorspace::Cmono => (0, 0),
            other => {
                return Err(CaptureError::Decode {
                    path: name.to_path_buf(),
                    problem: format!(
                        "colorspace {other:?} not supported; allowed: 8-bit 420, 422, 444, mono"
                    ),
                })
            }
        };
        Ok(Y4mReader {
            name: name.to_path_buf(),
            decoder,
            chroma: Chroma {
                subsampling,
                colorspace,
            },
        })
    }

    /// Width and height in pixels.
    pub fn size(&self) -> (u32, u32) {
        (
            self.decoder.get_width() as u32,
            self.decoder.get_height() as u32,
        )
    }

    /// Frames per second as the header states it (numerator, denominator).
    pub fn framerate(&self) -> (usize, usize) {
        let r = self.decoder.get_framerate();
        (r.num, r.den)
    }

    /// The stream's colour sampling.
    pub fn chroma(&self) -> Chroma {
        self.chroma
    }

    /// Everything the header says.
    pub fn format(&self) -> Y4mFormat {
        let aspect = self.decoder.get_pixel_aspect();
        Y4mFormat {
            size: self.size(),
            framerate: self.framerate(),
            pixel_aspect: (aspect.num, aspect.den),
            chroma: self.chroma,
        }
    }

    /// The next frame, or `None` at the end of the stream.
    pub fn read(&mut self) -> Result<Option<Y4mFrame>, CaptureError> {
        let (w, h) = self.size();
        let (sx, sy) = self.chroma.subsampling;
        let frame = match self.decoder.read_frame() {
            Ok(frame) => frame,
            Err(y4m::Error::EOF) => return Ok(None),
            Err(e) => {
                return Err(CaptureError::Decode {
                    path: self.name.clone(),
                    problem: e.to_string(),
                })
            }
        };
        let (y, u, v) = (
            frame.get_y_plane(),
            frame.get_u_plane(),
            frame.get_v_plane(),
        );
        let rgb = if sx == 0 {
            RgbImage::from_fn(w, h, |x, r| {
                let luma = y.get((r * w + x) as usize).copied().unwrap_or(16);
                image::Rgb(super::yuv::yuv_to_rgb(luma, 128, 128))
            })
        } else {
            planar_to_rgb(y, u, v, w, h, sx, sy).ok_or_else(|| CaptureError::Decode {
                path: self.name.clone(),
                problem: "truncated frame".into(),
            })?
        };
        Ok(Some(Y4mFrame {
            rgb,
            y: y.to_vec(),
            u: u.to_vec(),
            v: v.to_vec(),
        }))
    }
}

/// See the module documentation.
pub struct Y4mSource {
    path: PathBuf,
    reader: Y4mReader<BufReader<File>>,
    pacer: Pacer,
}

impl Y4mSource {
    /// Opens `path`. `fps` paces playback (None: as fast as possible). 8-bit 4:2:0, 4:2:2, 4:4:4
    /// and mono files are accepted.
    pub fn open(path: &Path, fps: Option<f32>) -> Result<Self, CaptureError> {
        Ok(Self {
            path: path.to_path_buf(),
            reader: Self::reader(path)?,
            pacer: Pacer::new(fps),
        })
    }

    fn reader(path: &Path) -> Result<Y4mReader<BufReader<File>>, CaptureError> {
        let file = File::open(path).map_err(|source| CaptureError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Y4mReader::new(BufReader::new(file), path)
    }

    fn read(&mut self) -> Result<Option<RgbImage>, CaptureError> {
        Ok(self.reader.read()?.map(|frame| frame.rgb))
    }
}

impl FrameSource for Y4mSource {
    fn next_frame(&mut self) -> Result<RgbImage, CaptureError> {
        self.pacer.wait();
        if let Some(image) = self.read()? {
            return Ok(image);
        }
        // End of file: start again from the top.
        self.reader = Self::reader(&self.path)?;
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
            self.reader.size().0,
            self.reader.size().1
        )
    }
}

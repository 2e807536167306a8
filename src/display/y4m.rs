//! Y4M output: the sink of `daefr restore in.y4m -o out.y4m`. Each RGB frame is written in the
//! input's colour sampling; a pixel the restoration did not change keeps its input luma and a
//! chroma block none of whose pixels changed keeps its input chroma, so everything outside the
//! restored faces passes through bit for bit (no YUV -> RGB -> YUV generation loss).

use std::io::Write;

use image::RgbImage;

use crate::capture::yuv::rgb_to_yuv;
use crate::capture::{Chroma, Y4mFormat, Y4mFrame};

/// A failed Y4M write.
#[derive(Debug, thiserror::Error)]
pub enum Y4mWriteError {
    /// The underlying writer failed (a full disk, a closed pipe).
    #[error("cannot write Y4M: {0}")]
    Io(#[from] std::io::Error),
    /// The encoder refused the frame (wrong size).
    #[error("cannot write Y4M: {0}")]
    Encode(String),
}

/// Writes frames of one size, rate and chroma layout to `W`.
pub struct Y4mWriter<W: Write> {
    encoder: y4m::Encoder<W>,
    size: (u32, u32),
    chroma: Chroma,
}

impl<W: Write> Y4mWriter<W> {
    /// Writes the header of a stream of `format` (the input's).
    pub fn new(writer: W, format: Y4mFormat) -> Result<Self, Y4mWriteError> {
        let (size, chroma) = (format.size, format.chroma);
        let (aspect_num, aspect_den) = format.pixel_aspect;
        let encoder = y4m::encode(
            size.0 as usize,
            size.1 as usize,
            y4m::Ratio::new(format.framerate.0, format.framerate.1),
        )
        .with_colorspace(chroma.colorspace)
        .with_pixel_aspect(y4m::Ratio::new(aspect_num, aspect_den))
        .write_header(writer)
        .map_err(|e| Y4mWriteError::Encode(format!("{e:?}")))?;
        Ok(Y4mWriter {
            encoder,
            size,
            chroma,
        })
    }

    /// Writes `out`, the restoration of `input` (same size): unchanged pixels keep `input`'s
    /// samples (see the module documentation).
    pub fn write(&mut self, input: &Y4mFrame, out: &RgbImage) -> Result<(), Y4mWriteError> {
        let (w, h) = (self.size.0 as usize, self.size.1 as usize);
        if out.dimensions() != self.size || input.rgb.dimensions() != self.size {
            return Err(Y4mWriteError::Encode(format!(
                "frame is {}x{}, the stream {w}x{h}",
                out.width(),
                out.height()
            )));
        }
        // one pass: the YUV of every pixel the restoration changed (None: untouched)
        let converted: Vec<Option<[u8; 3]>> = out
            .pixels()
            .zip(input.rgb.pixels())
            .map(|(o, i)| (o != i).then(|| rgb_to_yuv(o.0)))
            .collect();
        let mut luma = input.y.clone();
        luma.resize(w * h, 16);
        for (l, yuv) in luma.iter_mut().zip(&converted) {
            if let Some([y, _, _]) = yuv {
                *l = *y;
            }
        }
        let (sx, sy) = self.chroma.subsampling;
        let (mut cb, mut cr) = (input.u.clone(), input.v.clone());
        if sx > 0 {
            let (cw, ch) = (w.div_ceil(sx), h.div_ceil(sy));
            cb.resize(cw * ch, 128);
            cr.resize(cw * ch, 128);
            for by in 0..ch {
                for bx in 0..cw {
                    let pixels = (by * sy..((by + 1) * sy).min(h))
                        .flat_map(|y| (bx * sx..((bx + 1) * sx).min(w)).map(move |x| y * w + x));
                    if !pixels.clone().any(|i| converted[i].is_some()) {
                        continue;
                    }
                    let (mut su, mut sv, mut n) = (0u32, 0u32, 0u32);
                    for i in pixels {
                        let [_, u, v] = converted[i].unwrap_or_else(|| {
                            rgb_to_yuv(out.get_pixel((i % w) as u32, (i / w) as u32).0)
                        });
                        su += u32::from(u);
                        sv += u32::from(v);
                        n += 1;
                    }
                    cb[by * cw + bx] = ((su + n / 2) / n) as u8;
                    cr[by * cw + bx] = ((sv + n / 2) / n) as u8;
                }
            }
        }
        let frame = y4m::Frame::new([&luma, &cb, &cr], None);
        self.encoder.write_frame(&frame).map_err(|e| match e {
            y4m::Error::IoError(io) => Y4mWriteError::Io(io),
            other => Y4mWriteError::Encode(format!("{other:?}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Y4mReader;
    use std::path::Path;

    /// A 4:2:0 stream of `frames` frames of a gradient, as bytes.
    fn stream(frames: usize) -> Vec<u8> {
        let (w, h) = (8usize, 6usize);
        let mut bytes = b"YUV4MPEG2 W8 H6 F25:1 Ip A1:1 C420jpeg\n".to_vec();
        for f in 0..frames {
            bytes.extend_from_slice(b"FRAME\n");
            bytes.extend((0..w * h).map(|i| (40 + i * 3 + f) as u8));
            bytes.extend((0..(w / 2) * (h / 2)).map(|i| (100 + i * 2) as u8));
            bytes.extend((0..(w / 2) * (h / 2)).map(|i| (150 - i) as u8));
        }
        bytes
    }

    #[test]
    fn untouched_frames_pass_through_bit_for_bit_and_changes_land_where_made() {
        let input = stream(2);
        let mut reader = Y4mReader::new(&input[..], Path::new("test.y4m")).expect("header");
        let mut out = Vec::new();
        let mut writer = Y4mWriter::new(&mut out, reader.format()).expect("header");
        let first = reader.read().expect("read").expect("frame 1");
        writer.write(&first, &first.rgb).expect("write");
        let second = reader.read().expect("read").expect("frame 2");
        let mut changed = second.rgb.clone();
        changed.put_pixel(0, 0, image::Rgb([0, 255, 0]));
        writer.write(&second, &changed).expect("write");
        assert!(reader.read().expect("read").is_none());
        let frames =
            |b: &[u8]| b[b.iter().position(|&c| c == b'\n').expect("header") + 1..].to_vec();
        let (out, input) = (frames(&out), frames(&input));
        let frame_len = 6 + 48 + 12 + 12;
        assert_eq!(out.len(), input.len(), "same frame sizes");
        assert_eq!(
            out[..frame_len],
            input[..frame_len],
            "an untouched frame is copied"
        );
        let second_out = &out[frame_len..];
        let second_in = &input[frame_len..];
        assert_ne!(second_out[6], second_in[6], "the changed pixel's luma");
        assert_eq!(
            second_out[7..6 + 48],
            second_in[7..6 + 48],
            "the rest of the luma"
        );
        let (u, v) = (6 + 48, 6 + 48 + 12);
        assert_ne!(second_out[u], second_in[u], "its Cb");
        assert_ne!(second_out[v], second_in[v], "its Cr");
        assert_eq!(
            second_out[u + 1..v],
            second_in[u + 1..v],
            "the other Cb blocks"
        );
        assert_eq!(
            second_out[v + 1..],
            second_in[v + 1..],
            "the other Cr blocks"
        );
    }
}

//! The Linux framebuffer (`/dev/fb0`) as an embedded-graphics `DrawTarget`. The `framebuffer`
//! crate maps the device; this file adds the pixel encoding (RGB565, XRGB8888 or any other
//! 16/24/32-bit layout the driver describes with its bitfields) and a back buffer that is copied
//! to the device once per frame, so a half-drawn frame is never on screen.

use std::path::{Path, PathBuf};

use embedded_graphics::pixelcolor::{Rgb888, RgbColor};
use embedded_graphics::prelude::{DrawTarget, OriginDimensions, Pixel, Size};
use embedded_graphics::primitives::Rectangle;
use framebuffer::Framebuffer;
use image::RgbImage;

use super::raster::Raster;
use super::{render, DisplayError, DisplaySink, Overlay};

/// Where each colour channel sits in a framebuffer pixel (from the driver's bitfields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelLayout {
    /// Bytes per pixel: 2, 3 or 4.
    pub bytes: usize,
    /// (offset, length) in bits of red, green and blue.
    pub red: (u32, u32),
    /// See `red`.
    pub green: (u32, u32),
    /// See `red`.
    pub blue: (u32, u32),
}

impl PixelLayout {
    /// RGB565, the usual layout of small SPI/DPI panels.
    pub const RGB565: PixelLayout = PixelLayout {
        bytes: 2,
        red: (11, 5),
        green: (5, 6),
        blue: (0, 5),
    };
    /// XRGB8888, the usual layout of HDMI framebuffers.
    pub const XRGB8888: PixelLayout = PixelLayout {
        bytes: 4,
        red: (16, 8),
        green: (8, 8),
        blue: (0, 8),
    };

    /// Encodes one colour as the little-endian pixel value.
    #[inline]
    pub fn encode(&self, c: Rgb888) -> u32 {
        let channel = |v: u8, (offset, len): (u32, u32)| -> u32 {
            if len == 0 || len > 8 {
                return 0;
            }
            ((v as u32) >> (8 - len)) << offset
        };
        channel(c.r(), self.red) | channel(c.g(), self.green) | channel(c.b(), self.blue)
    }
}

/// An open framebuffer device with a back buffer in its own pixel layout.
pub struct FramebufferDisplay {
    path: PathBuf,
    device: Framebuffer,
    back: BackBuffer,
}

/// The frame being drawn, in the device's pixel layout and row stride; the embedded-graphics
/// target that [`render`] draws on before the whole buffer is copied to the device.
struct BackBuffer {
    bytes: Vec<u8>,
    width: u32,
    height: u32,
    stride: usize,
    layout: PixelLayout,
}

impl FramebufferDisplay {
    /// Opens `path` (usually `/dev/fb0`). Fails if it is missing or its pixel format is not
    /// 16, 24 or 32 bits per pixel.
    pub fn open(path: &Path) -> Result<Self, DisplayError> {
        let open_err = |problem: String| DisplayError::Open {
            path: path.to_path_buf(),
            problem,
        };
        let device = Framebuffer::new(path).map_err(|e| open_err(e.details))?;
        let var = &device.var_screen_info;
        let bytes = (var.bits_per_pixel / 8) as usize;
        if !matches!(bytes, 2..=4) {
            return Err(open_err(format!(
                "{} bits per pixel not supported; allowed 16, 24, 32",
                var.bits_per_pixel
            )));
        }
        let layout = PixelLayout {
            bytes,
            red: (var.red.offset, var.red.length),
            green: (var.green.offset, var.green.length),
            blue: (var.blue.offset, var.blue.length),
        };
        let stride = device.fix_screen_info.line_length as usize;
        let (width, height) = (var.xres, var.yres);
        log::info!(
            "{}: {width}x{height}, {} bpp, layout {layout:?}",
            path.display(),
            var.bits_per_pixel
        );
        Ok(Self {
            path: path.to_path_buf(),
            device,
            back: BackBuffer::new(width, height, stride, layout),
        })
    }
}

impl BackBuffer {
    /// A black buffer of `height` rows of `stride` bytes.
    fn new(width: u32, height: u32, stride: usize, layout: PixelLayout) -> Self {
        Self {
            bytes: vec![0u8; stride * height as usize],
            width,
            height,
            stride,
            layout,
        }
    }

    /// The buffer as `N`-byte pixels (`N` = `layout.bytes`).
    fn raster<const N: usize>(&mut self) -> Raster<'_, N> {
        Raster::new(&mut self.bytes, self.width, self.height, self.stride)
    }
}

/// The first `N` bytes of a little-endian pixel value.
#[inline]
fn le<const N: usize>(value: u32) -> [u8; N] {
    let bytes = value.to_le_bytes();
    std::array::from_fn(|i| bytes[i])
}

/// Runs `$body` with `$raster` bound to the back buffer as a `Raster` of its pixel size and
/// `$encode` to the matching colour encoder (the pixel size is a const generic, so the per-pixel
/// copies are fixed-size).
macro_rules! with_raster {
    ($back:expr, |$raster:ident, $encode:ident| $body:expr) => {{
        let layout = $back.layout;
        match layout.bytes {
            2 => {
                let $encode = |c: Rgb888| le::<2>(layout.encode(c));
                let mut $raster = $back.raster::<2>();
                $body
            }
            3 => {
                let $encode = |c: Rgb888| le::<3>(layout.encode(c));
                let mut $raster = $back.raster::<3>();
                $body
            }
            _ => {
                let $encode = |c: Rgb888| le::<4>(layout.encode(c));
                let mut $raster = $back.raster::<4>();
                $body
            }
        }
    }};
}

impl OriginDimensions for BackBuffer {
    fn size(&self) -> Size {
        Size::new(self.width, self.height)
    }
}

impl DrawTarget for BackBuffer {
    type Color = Rgb888;
    type Error = std::convert::Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        with_raster!(self, |raster, encode| {
            for Pixel(p, c) in pixels {
                raster.put(p, encode(c));
            }
        });
        Ok(())
    }

    fn fill_contiguous<I>(&mut self, area: &Rectangle, colors: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Self::Color>,
    {
        with_raster!(self, |raster, encode| {
            raster.fill_contiguous(area, colors, encode)
        });
        Ok(())
    }

    fn fill_solid(&mut self, area: &Rectangle, color: Self::Color) -> Result<(), Self::Error> {
        with_raster!(self, |raster, encode| {
            raster.fill_solid(area, encode(color))
        });
        Ok(())
    }
}

impl DisplaySink for FramebufferDisplay {
    fn show(&mut self, frame: &RgbImage, overlay: &Overlay) -> Result<(), DisplayError> {
        let Ok(()) = render(&mut self.back, frame, overlay);
        if self.device.frame.len() < self.back.bytes.len() {
            return Err(DisplayError::Write {
                path: self.path.clone(),
                problem: "mapped framebuffer smaller than the screen".into(),
            });
        }
        self.device.write_frame(&self.back.bytes);
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "framebuffer {} {}x{} ({} bytes/pixel)",
            self.path.display(),
            self.back.width,
            self.back.height,
            self.back.layout.bytes
        )
    }
}

#[cfg(test)]
mod tests {
    use embedded_graphics::prelude::Point;

    use super::*;
    use crate::display::testing::{colour, letters, PixelByPixel};

    /// A 3x2 RGB565 back buffer with 2 bytes of row padding (stride 8), every byte 0xEE.
    fn padded() -> BackBuffer {
        let mut back = BackBuffer::new(3, 2, 8, PixelLayout::RGB565);
        back.bytes.fill(0xEE);
        back
    }

    fn rect(x: i32, y: i32, w: u32, h: u32) -> Rectangle {
        Rectangle::new(Point::new(x, y), Size::new(w, h))
    }

    const E: u8 = 0xEE;

    #[test]
    fn rgb565_and_xrgb8888_encodings() {
        let orange = Rgb888::new(255, 128, 8);
        assert_eq!(
            PixelLayout::RGB565.encode(orange),
            (31 << 11) | (32 << 5) | 1
        );
        assert_eq!(PixelLayout::XRGB8888.encode(orange), 0x00FF_8008);
        assert_eq!(PixelLayout::RGB565.encode(Rgb888::WHITE), 0xFFFF);
    }

    #[test]
    fn missing_device_is_an_open_error() {
        let err = FramebufferDisplay::open(Path::new("/nonexistent/fb9"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("/nonexistent/fb9"), "{err}");
    }

    #[test]
    fn fill_solid_writes_rgb565_rows_and_leaves_the_padding() {
        let mut back = padded();
        // White is 0xFFFF; (-1, 1) 3x5 covers x = 0, 1 of row 1 only.
        let Ok(()) = back.fill_solid(&rect(-1, 1, 3, 5), Rgb888::WHITE);
        #[rustfmt::skip]
        let expected = [
            E, E, E, E, E, E, E, E,
            0xFF, 0xFF, 0xFF, 0xFF, E, E, E, E,
        ];
        assert_eq!(back.bytes, expected);
        // Red (0xF800, little-endian 00 F8) over everything: the padding stays.
        let Ok(()) = back.clear(Rgb888::RED);
        #[rustfmt::skip]
        let expected = [
            0x00, 0xF8, 0x00, 0xF8, 0x00, 0xF8, E, E,
            0x00, 0xF8, 0x00, 0xF8, 0x00, 0xF8, E, E,
        ];
        assert_eq!(back.bytes, expected);
    }

    #[test]
    fn fill_contiguous_encodes_each_colour_and_skips_clipped_ones() {
        let mut back = BackBuffer::new(2, 2, 8, PixelLayout::XRGB8888);
        back.bytes.fill(E);
        // 2x3 from (1, -1): a b (row -1, clipped), c d, e f; columns 1, 2 of which 1 shows.
        let colours = [
            Rgb888::new(1, 2, 3),
            Rgb888::new(4, 5, 6),
            Rgb888::new(7, 8, 9),
            Rgb888::new(10, 11, 12),
            Rgb888::new(13, 14, 15),
            Rgb888::new(16, 17, 18),
        ];
        let Ok(()) = back.fill_contiguous(&rect(1, -1, 2, 3), colours);
        #[rustfmt::skip]
        let expected = [
            E, E, E, E, 9, 8, 7, 0,
            E, E, E, E, 15, 14, 13, 0,
        ];
        assert_eq!(back.bytes, expected);
    }

    #[test]
    fn fast_paths_match_the_pixel_by_pixel_defaults_in_every_layout() {
        let rgb888 = PixelLayout {
            bytes: 3,
            red: (16, 8),
            green: (8, 8),
            blue: (0, 8),
        };
        for layout in [PixelLayout::RGB565, rgb888, PixelLayout::XRGB8888] {
            let stride = 5 * layout.bytes + 3;
            for x in -3..=6 {
                for y in -3..=5 {
                    for w in 0..=7 {
                        for h in 0..=6 {
                            let area = rect(x, y, w, h);
                            let mut fast = BackBuffer::new(5, 3, stride, layout);
                            let mut slow = BackBuffer::new(5, 3, stride, layout);
                            let Ok(()) = fast.fill_contiguous(&area, letters(16));
                            let Ok(()) =
                                PixelByPixel(&mut slow).fill_contiguous(&area, letters(16));
                            assert_eq!(
                                fast.bytes, slow.bytes,
                                "{layout:?} fill_contiguous {area:?}"
                            );
                            let Ok(()) = fast.fill_solid(&area, colour('Y'));
                            let Ok(()) = PixelByPixel(&mut slow).fill_solid(&area, colour('Y'));
                            assert_eq!(fast.bytes, slow.bytes, "{layout:?} fill_solid {area:?}");
                        }
                    }
                }
            }
        }
    }
}

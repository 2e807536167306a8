//! The Linux framebuffer (`/dev/fb0`) as an embedded-graphics `DrawTarget`. The `framebuffer`
//! crate maps the device; this file adds the pixel encoding (RGB565, XRGB8888 or any other
//! 16/24/32-bit layout the driver describes with its bitfields) and a back buffer that is copied
//! to the device once per frame, so a half-drawn frame is never on screen.

use std::path::{Path, PathBuf};

use embedded_graphics::pixelcolor::{Rgb888, RgbColor};
use embedded_graphics::prelude::{DrawTarget, OriginDimensions, Pixel, Size};
use framebuffer::Framebuffer;
use image::RgbImage;

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
    back: Vec<u8>,
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
        let back = vec![0u8; stride * height as usize];
        log::info!(
            "{}: {width}x{height}, {} bpp, layout {layout:?}",
            path.display(),
            var.bits_per_pixel
        );
        Ok(Self {
            path: path.to_path_buf(),
            device,
            back,
            width,
            height,
            stride,
            layout,
        })
    }
}

impl OriginDimensions for FramebufferDisplay {
    fn size(&self) -> Size {
        Size::new(self.width, self.height)
    }
}

impl DrawTarget for FramebufferDisplay {
    type Color = Rgb888;
    type Error = std::convert::Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        let bytes = self.layout.bytes;
        for Pixel(p, c) in pixels {
            if p.x < 0 || p.y < 0 || p.x as u32 >= self.width || p.y as u32 >= self.height {
                continue;
            }
            let at = p.y as usize * self.stride + p.x as usize * bytes;
            let value = self.layout.encode(c).to_le_bytes();
            if let Some(dst) = self.back.get_mut(at..at + bytes) {
                dst.copy_from_slice(&value[..bytes]);
            }
        }
        Ok(())
    }
}

impl DisplaySink for FramebufferDisplay {
    fn show(&mut self, frame: &RgbImage, overlay: &Overlay) -> Result<(), DisplayError> {
        let Ok(()) = render(self, frame, overlay);
        if self.device.frame.len() < self.back.len() {
            return Err(DisplayError::Write {
                path: self.path.clone(),
                problem: "mapped framebuffer smaller than the screen".into(),
            });
        }
        self.device.write_frame(&self.back);
        Ok(())
    }

    fn describe(&self) -> String {
        format!(
            "framebuffer {} {}x{} ({} bytes/pixel)",
            self.path.display(),
            self.width,
            self.height,
            self.layout.bytes
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

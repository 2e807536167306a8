//! An embedded-graphics `DrawTarget` over an `image::RgbImage`.

use embedded_graphics::pixelcolor::{Rgb888, RgbColor};
use embedded_graphics::prelude::{DrawTarget, OriginDimensions, Pixel, Size};
use embedded_graphics::primitives::Rectangle;
use image::RgbImage;

use super::raster::Raster;

/// Lets embedded-graphics draw into an RGB image (pixels outside it are ignored). Solid and
/// contiguous fills (clears, the frame blit, text backgrounds, box strokes) write whole rows.
pub struct RgbCanvas<'a>(pub &'a mut RgbImage);

impl RgbCanvas<'_> {
    fn raster(&mut self) -> Raster<'_, 3> {
        let (w, h) = self.0.dimensions();
        let stride = w as usize * 3;
        let buf: &mut [u8] = &mut *self.0;
        Raster::new(buf, w, h, stride)
    }
}

/// The canvas's pixel bytes for `c`.
#[inline]
fn rgb(c: Rgb888) -> [u8; 3] {
    [c.r(), c.g(), c.b()]
}

impl OriginDimensions for RgbCanvas<'_> {
    fn size(&self) -> Size {
        Size::new(self.0.width(), self.0.height())
    }
}

impl DrawTarget for RgbCanvas<'_> {
    type Color = Rgb888;
    type Error = std::convert::Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        let mut raster = self.raster();
        for Pixel(p, c) in pixels {
            raster.put(p, rgb(c));
        }
        Ok(())
    }

    fn fill_contiguous<I>(&mut self, area: &Rectangle, colors: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Self::Color>,
    {
        self.raster().fill_contiguous(area, colors, rgb);
        Ok(())
    }

    fn fill_solid(&mut self, area: &Rectangle, color: Self::Color) -> Result<(), Self::Error> {
        self.raster().fill_solid(area, rgb(color));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use embedded_graphics::prelude::{Dimensions, Point};

    use super::*;
    use crate::display::testing::{assert_pattern, colour, image, letters, PixelByPixel};

    fn blank() -> RgbImage {
        image(&["......", "......", "......", "......"])
    }

    fn rect(x: i32, y: i32, w: u32, h: u32) -> Rectangle {
        Rectangle::new(Point::new(x, y), Size::new(w, h))
    }

    #[test]
    fn fill_solid_clips_to_the_image() {
        let mut img = blank();
        // 5x5 from (-2, 1): columns -2..=2, rows 1..=5, of which columns 0..=2, rows 1..=3 show.
        let Ok(()) = RgbCanvas(&mut img).fill_solid(&rect(-2, 1, 5, 5), colour('R'));
        assert_pattern(&img, &["......", "RRR...", "RRR...", "RRR..."]);
        let Ok(()) = RgbCanvas(&mut img).fill_solid(&rect(4, -1, 9, 2), colour('#'));
        assert_pattern(&img, &["....##", "RRR...", "RRR...", "RRR..."]);
        let Ok(()) = RgbCanvas(&mut img).fill_solid(&rect(1, 2, 4, 1), colour('Y'));
        assert_pattern(&img, &["....##", "RRR...", "RYYYY.", "RRR..."]);
    }

    #[test]
    fn fill_solid_outside_or_empty_draws_nothing() {
        let mut img = blank();
        let mut canvas = RgbCanvas(&mut img);
        for area in [
            rect(6, 0, 3, 3),
            rect(0, 4, 3, 3),
            rect(-3, 0, 3, 3),
            rect(0, -3, 3, 3),
            rect(1, 1, 0, 2),
            rect(1, 1, 2, 0),
        ] {
            let Ok(()) = canvas.fill_solid(&area, colour('#'));
        }
        assert_pattern(&img, &["......", "......", "......", "......"]);
    }

    #[test]
    fn clear_fills_everything_in_grey_and_non_grey_colours() {
        let mut img = blank();
        let Ok(()) = RgbCanvas(&mut img).clear(colour('Y'));
        assert_pattern(&img, &["YYYYYY", "YYYYYY", "YYYYYY", "YYYYYY"]);
        let Ok(()) = RgbCanvas(&mut img).clear(colour('#'));
        assert_pattern(&img, &["######", "######", "######", "######"]);
    }

    #[test]
    fn fill_contiguous_skips_the_colours_of_clipped_points() {
        let mut img = blank();
        // 4x3 from (-1, -1), colours a..l row by row: row -1 (a..d) and column -1 (e, i) are
        // clipped, so f g h and j k l land at (0..=2, 0..=1).
        let Ok(()) = RgbCanvas(&mut img).fill_contiguous(&rect(-1, -1, 4, 3), letters(12));
        assert_pattern(&img, &["fgh...", "jkl...", "......", "......"]);

        let mut img = blank();
        // 3x3 from (4, 2): only columns 4, 5 and rows 2, 3 show: a b / d e (c, f and g..i fall
        // off the right and the bottom).
        let Ok(()) = RgbCanvas(&mut img).fill_contiguous(&rect(4, 2, 3, 3), letters(9));
        assert_pattern(&img, &["......", "......", "....ab", "....de"]);

        let mut img = blank();
        // Wider than the image on both sides: 8x2 from (-1, 1).
        let Ok(()) = RgbCanvas(&mut img).fill_contiguous(&rect(-1, 1, 8, 2), letters(16));
        assert_pattern(&img, &["......", "bcdefg", "jklmno", "......"]);
    }

    #[test]
    fn fill_contiguous_stops_where_the_colours_end() {
        let mut img = blank();
        let Ok(()) = RgbCanvas(&mut img).fill_contiguous(&rect(1, 1, 3, 3), letters(5));
        assert_pattern(&img, &["......", ".abc..", ".de...", "......"]);
        // Running out in the clipped rows above the image draws nothing.
        let mut img = blank();
        let Ok(()) = RgbCanvas(&mut img).fill_contiguous(&rect(0, -2, 3, 3), letters(6));
        assert_pattern(&img, &["......", "......", "......", "......"]);
    }

    #[test]
    fn fill_contiguous_outside_draws_nothing() {
        let mut img = blank();
        for area in [
            rect(6, 0, 2, 2),
            rect(-2, 0, 2, 2),
            rect(0, 4, 2, 2),
            rect(0, -2, 6, 2),
        ] {
            let Ok(()) = RgbCanvas(&mut img).fill_contiguous(&area, letters(16));
        }
        assert_pattern(&img, &["......", "......", "......", "......"]);
    }

    #[test]
    fn fast_paths_match_the_pixel_by_pixel_defaults() {
        let mut cases = 0;
        for x in -3..=7 {
            for y in -3..=5 {
                for w in 0..=8 {
                    for h in 0..=6 {
                        let area = rect(x, y, w, h);
                        let (mut fast, mut slow) = (blank(), blank());
                        let Ok(()) = RgbCanvas(&mut fast).fill_contiguous(&area, letters(16));
                        let Ok(()) = PixelByPixel(&mut RgbCanvas(&mut slow))
                            .fill_contiguous(&area, letters(16));
                        assert_eq!(fast, slow, "fill_contiguous {area:?}");
                        let Ok(()) = RgbCanvas(&mut fast).fill_solid(&area, colour('Y'));
                        let Ok(()) =
                            PixelByPixel(&mut RgbCanvas(&mut slow)).fill_solid(&area, colour('Y'));
                        assert_eq!(fast, slow, "fill_solid {area:?}");
                        cases += 1;
                    }
                }
            }
        }
        assert_eq!(cases, 11 * 9 * 9 * 7);
    }

    #[test]
    fn empty_image_is_a_valid_target() {
        let mut img = RgbImage::new(0, 0);
        let mut canvas = RgbCanvas(&mut img);
        assert!(canvas.bounding_box().is_zero_sized());
        let Ok(()) = canvas.clear(colour('R'));
        let Ok(()) = canvas.fill_solid(&rect(0, 0, 2, 2), colour('R'));
        let Ok(()) = canvas.fill_contiguous(&rect(0, 0, 2, 2), letters(4));
        let Ok(()) = canvas.draw_iter([Pixel(Point::zero(), colour('R'))]);
    }
}

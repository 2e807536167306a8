//! Test helpers for pixel-exact checks (the style of embedded-graphics' `MockDisplay`): images
//! written as strings of palette characters, and a pixel-by-pixel reference target.

use embedded_graphics::pixelcolor::{Rgb888, RgbColor};
use embedded_graphics::prelude::{Dimensions, DrawTarget, Pixel};
use embedded_graphics::primitives::Rectangle;
use image::{Rgb, RgbImage};

/// The colours patterns use, one character each.
pub(crate) const PALETTE: &[(char, [u8; 3])] = &[
    ('.', [0, 0, 0]),
    ('#', [255, 255, 255]),
    ('R', [255, 0, 0]),
    ('G', [40, 220, 60]),
    ('Y', [240, 200, 30]),
    ('a', [10, 1, 1]),
    ('b', [20, 2, 2]),
    ('c', [30, 3, 3]),
    ('d', [40, 4, 4]),
    ('e', [50, 5, 5]),
    ('f', [60, 6, 6]),
    ('g', [70, 7, 7]),
    ('h', [80, 8, 8]),
    ('i', [90, 9, 9]),
    ('j', [100, 10, 10]),
    ('k', [110, 11, 11]),
    ('l', [120, 12, 12]),
    ('m', [130, 13, 13]),
    ('n', [140, 14, 14]),
    ('o', [150, 15, 15]),
    ('p', [160, 16, 16]),
];

/// The colour a pattern character stands for.
pub(crate) fn colour(ch: char) -> Rgb888 {
    let [r, g, b] = PALETTE
        .iter()
        .find(|(c, _)| *c == ch)
        .map(|(_, rgb)| *rgb)
        .unwrap_or_else(|| panic!("{ch:?} not in the palette"));
    Rgb888::new(r, g, b)
}

/// `n` colours a, b, c, ... (the palette's letters, at most 16).
pub(crate) fn letters(n: usize) -> impl Iterator<Item = Rgb888> {
    ('a'..='p').take(n).map(colour)
}

/// An image drawn from a pattern: one string per row, one palette character per pixel.
pub(crate) fn image(pattern: &[&str]) -> RgbImage {
    let w = pattern.first().map_or(0, |r| r.chars().count()) as u32;
    let mut img = RgbImage::new(w, pattern.len() as u32);
    for (y, row) in pattern.iter().enumerate() {
        assert_eq!(row.chars().count() as u32, w, "ragged pattern");
        for (x, ch) in row.chars().enumerate() {
            let c = colour(ch);
            img.put_pixel(x as u32, y as u32, Rgb([c.r(), c.g(), c.b()]));
        }
    }
    img
}

/// `img` as a pattern; colours outside the palette show as `?`.
pub(crate) fn pattern(img: &RgbImage) -> Vec<String> {
    img.rows()
        .map(|row| {
            row.map(|p| {
                PALETTE
                    .iter()
                    .find(|(_, rgb)| *rgb == p.0)
                    .map_or('?', |(c, _)| *c)
            })
            .collect()
        })
        .collect()
}

/// Panics unless `img` is exactly `expected`, showing both.
#[track_caller]
pub(crate) fn assert_pattern(img: &RgbImage, expected: &[&str]) {
    let actual = pattern(img);
    assert_eq!(
        actual,
        expected,
        "\nactual:\n{}\nexpected:\n{}\n",
        actual.join("\n"),
        expected.join("\n")
    );
}

/// Wraps a target and offers only `draw_iter`: every other method is embedded-graphics' default
/// (pixel by pixel), the reference the fast paths must match exactly.
pub(crate) struct PixelByPixel<'a, T>(pub(crate) &'a mut T);

impl<T: DrawTarget> Dimensions for PixelByPixel<'_, T> {
    fn bounding_box(&self) -> Rectangle {
        self.0.bounding_box()
    }
}

impl<T: DrawTarget> DrawTarget for PixelByPixel<'_, T> {
    type Color = T::Color;
    type Error = T::Error;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        self.0.draw_iter(pixels)
    }
}

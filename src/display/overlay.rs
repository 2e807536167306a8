//! What is drawn over each frame, and the one function that draws frame + overlay on any target.

use embedded_graphics::mono_font::ascii::{FONT_10X20, FONT_6X10};
use embedded_graphics::mono_font::MonoTextStyleBuilder;
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{Line, PrimitiveStyle, Rectangle};
use embedded_graphics::text::{Alignment, Baseline, Text, TextStyleBuilder};
use image::RgbImage;

/// A tracked face's box, drawn when `overlay.face_boxes` is on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceBox {
    /// x0, y0, x1, y1 in frame pixels.
    pub bbox: [f32; 4],
    /// Whether a restored face is shown for it (green) or not yet (yellow).
    pub restored: bool,
}

/// Everything drawn over one frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overlay {
    /// Text lines, top left (FPS, stage timings).
    pub lines: Vec<String>,
    /// Face boxes.
    pub boxes: Vec<FaceBox>,
    /// Draw the before/after divider at this x (frame pixels).
    pub split_x: Option<u32>,
    /// Replace the frame by the NO SIGNAL screen, with this detail line.
    pub no_signal: Option<String>,
}

const GREEN: Rgb888 = Rgb888::new(40, 220, 60);
const YELLOW: Rgb888 = Rgb888::new(240, 200, 30);
const NO_SIGNAL_BG: Rgb888 = Rgb888::new(10, 10, 60);

/// Draws `frame` centred on `target` and `overlay` on top. When `overlay.no_signal` is set the
/// frame is not drawn: the whole target shows NO SIGNAL and the detail line.
pub fn render<D>(target: &mut D, frame: &RgbImage, overlay: &Overlay) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Rgb888>,
{
    let area = target.bounding_box();
    if let Some(detail) = &overlay.no_signal {
        target.clear(NO_SIGNAL_BG)?;
        let centre = area.center();
        let big = MonoTextStyleBuilder::new()
            .font(&FONT_10X20)
            .text_color(Rgb888::WHITE)
            .build();
        let small = MonoTextStyleBuilder::new()
            .font(&FONT_6X10)
            .text_color(Rgb888::new(200, 200, 200))
            .build();
        let centred = TextStyleBuilder::new()
            .alignment(Alignment::Center)
            .baseline(Baseline::Middle)
            .build();
        Text::with_text_style("NO SIGNAL", centre, big, centred).draw(target)?;
        Text::with_text_style(detail, centre + Point::new(0, 24), small, centred).draw(target)?;
        return draw_lines(target, &overlay.lines);
    }
    // Centre the frame; a larger frame is cropped by the target's clipping.
    let (fw, fh) = (frame.width() as i32, frame.height() as i32);
    let offset = Point::new(
        (area.size.width as i32 - fw) / 2,
        (area.size.height as i32 - fh) / 2,
    );
    if offset != Point::zero() {
        target.clear(Rgb888::BLACK)?;
    }
    let pixels = frame.pixels().map(|p| Rgb888::new(p[0], p[1], p[2]));
    target.fill_contiguous(
        &Rectangle::new(offset, Size::new(frame.width(), frame.height())),
        pixels,
    )?;
    for face in &overlay.boxes {
        let [x0, y0, x1, y1] = face.bbox;
        let colour = if face.restored { GREEN } else { YELLOW };
        Rectangle::with_corners(
            offset + Point::new(x0.round() as i32, y0.round() as i32),
            offset + Point::new(x1.round() as i32, y1.round() as i32),
        )
        .into_styled(PrimitiveStyle::with_stroke(colour, 2))
        .draw(target)?;
    }
    if let Some(x) = overlay.split_x {
        let x = offset.x + x as i32;
        Line::new(Point::new(x, offset.y), Point::new(x, offset.y + fh - 1))
            .into_styled(PrimitiveStyle::with_stroke(Rgb888::WHITE, 2))
            .draw(target)?;
        let label = MonoTextStyleBuilder::new()
            .font(&FONT_6X10)
            .text_color(Rgb888::WHITE)
            .background_color(Rgb888::BLACK)
            .build();
        let bottom = offset.y + fh - 4;
        Text::with_baseline(
            "before",
            Point::new(x - 42, bottom),
            label,
            Baseline::Bottom,
        )
        .draw(target)?;
        Text::with_baseline("after", Point::new(x + 6, bottom), label, Baseline::Bottom)
            .draw(target)?;
    }
    draw_lines(target, &overlay.lines)
}

fn draw_lines<D>(target: &mut D, lines: &[String]) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Rgb888>,
{
    let style = MonoTextStyleBuilder::new()
        .font(&FONT_6X10)
        .text_color(Rgb888::WHITE)
        .background_color(Rgb888::BLACK)
        .build();
    for (i, line) in lines.iter().enumerate() {
        Text::with_baseline(line, Point::new(4, 4 + 11 * i as i32), style, Baseline::Top)
            .draw(target)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display::RgbCanvas;

    #[test]
    fn frame_is_blitted_and_text_drawn_over_it() {
        let frame = RgbImage::from_pixel(64, 48, image::Rgb([100, 150, 200]));
        let mut out = RgbImage::new(64, 48);
        let overlay = Overlay {
            lines: vec!["FPS 30".into()],
            ..Overlay::default()
        };
        let Ok(()) = render(&mut RgbCanvas(&mut out), &frame, &overlay);
        assert_eq!(out.get_pixel(40, 40).0, [100, 150, 200]);
        // The text's black background and white glyphs replace the frame top left.
        let top_left = (4..40).flat_map(|x| (4..14).map(move |y| (x, y)));
        assert!(top_left
            .clone()
            .any(|(x, y)| out.get_pixel(x, y).0 == [255, 255, 255]));
        assert!(top_left
            .clone()
            .any(|(x, y)| out.get_pixel(x, y).0 == [0, 0, 0]));
    }

    #[test]
    fn no_signal_replaces_the_frame() {
        let frame = RgbImage::from_pixel(120, 80, image::Rgb([100, 150, 200]));
        let mut out = RgbImage::new(120, 80);
        let overlay = Overlay {
            no_signal: Some("retrying".into()),
            ..Overlay::default()
        };
        let Ok(()) = render(&mut RgbCanvas(&mut out), &frame, &overlay);
        assert!(out.pixels().all(|p| p.0 != [100, 150, 200]));
        assert!(out.pixels().any(|p| p.0 == [255, 255, 255]));
    }
}

//! What is drawn over each frame, and the one function that draws frame + overlay on any target.

use embedded_graphics::mono_font::ascii::{FONT_10X20, FONT_6X10};
use embedded_graphics::mono_font::MonoTextStyleBuilder;
use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{
    Line, PrimitiveStyle, PrimitiveStyleBuilder, Rectangle, StrokeAlignment,
};
use embedded_graphics::text::{Alignment, Baseline, Text, TextStyleBuilder};
use image::RgbImage;

use super::canvas::RgbCanvas;
use crate::geometry::Face;

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
    // The frame, its face boxes and the split divider are in frame pixels: draw them through a
    // translated view of the target.
    draw_frame(&mut target.translated(offset), frame, overlay)?;
    draw_lines(target, &overlay.lines)
}

/// Draws `frame` at the origin of `target` and, in frame pixels, the face boxes and the split
/// divider with its labels.
fn draw_frame<D>(target: &mut D, frame: &RgbImage, overlay: &Overlay) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Rgb888>,
{
    let (fw, fh) = (frame.width(), frame.height());
    let pixels = frame
        .as_raw()
        .chunks_exact(3)
        .map(|p| Rgb888::new(p[0], p[1], p[2]));
    target.fill_contiguous(&Rectangle::new(Point::zero(), Size::new(fw, fh)), pixels)?;
    for face in &overlay.boxes {
        let [x0, y0, x1, y1] = face.bbox;
        let colour = if face.restored { GREEN } else { YELLOW };
        Rectangle::with_corners(
            Point::new(x0.round() as i32, y0.round() as i32),
            Point::new(x1.round() as i32, y1.round() as i32),
        )
        .into_styled(PrimitiveStyle::with_stroke(colour, 2))
        .draw(target)?;
    }
    if let Some(x) = overlay.split_x {
        let (x, fh) = (x as i32, fh as i32);
        Line::new(Point::new(x, 0), Point::new(x, fh - 1))
            .into_styled(PrimitiveStyle::with_stroke(Rgb888::WHITE, 2))
            .draw(target)?;
        let label = MonoTextStyleBuilder::new()
            .font(&FONT_6X10)
            .text_color(Rgb888::WHITE)
            .background_color(Rgb888::BLACK)
            .build();
        let bottom = fh - 4;
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
    Ok(())
}

/// Keypoint colours of [`mark_face`], in BlazeFace's order: eyes yellow, nose and mouth cyan,
/// ears magenta.
const KEYPOINT_COLOURS: [Rgb888; 6] = [
    Rgb888::new(255, 255, 0),
    Rgb888::new(255, 255, 0),
    Rgb888::new(0, 255, 255),
    Rgb888::new(0, 255, 255),
    Rgb888::new(255, 0, 255),
    Rgb888::new(255, 0, 255),
];

/// Draws a face's box (a 2 px outline inside it) in `colour` and its keypoints (5 px squares
/// centred on each, [`KEYPOINT_COLOURS`]) into `image`, clipped to it: `restore --draw-boxes`.
pub fn mark_face(image: &mut RgbImage, face: &Face, colour: [u8; 3]) {
    let mut canvas = RgbCanvas(image);
    let [x0, y0, x1, y1] = face.bbox.map(|v| v.round() as i32);
    let outline = PrimitiveStyleBuilder::new()
        .stroke_color(Rgb888::new(colour[0], colour[1], colour[2]))
        .stroke_width(2)
        .stroke_alignment(StrokeAlignment::Inside)
        .build();
    let drawn = Rectangle::with_corners(Point::new(x0, y0), Point::new(x1, y1))
        .into_styled(outline)
        .draw(&mut canvas);
    let Ok(()) = drawn;
    for (kp, c) in face.keypoints.iter().zip(KEYPOINT_COLOURS) {
        let corner = Point::new(kp[0].floor() as i32 - 2, kp[1].floor() as i32 - 2);
        let Ok(()) = canvas.fill_solid(&Rectangle::new(corner, Size::new(5, 5)), c);
    }
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
    use crate::display::testing::{assert_pattern, image, PixelByPixel};
    use crate::display::RgbCanvas;

    /// `render` on an `RgbCanvas` (fast fills) and on the pixel-by-pixel reference must agree.
    #[track_caller]
    fn render_both(out: &RgbImage, frame: &RgbImage, overlay: &Overlay) -> RgbImage {
        let (mut fast, mut slow) = (out.clone(), out.clone());
        let Ok(()) = render(&mut RgbCanvas(&mut fast), frame, overlay);
        let Ok(()) = render(&mut PixelByPixel(&mut RgbCanvas(&mut slow)), frame, overlay);
        assert!(fast == slow, "fast paths differ from pixel by pixel");
        fast
    }

    fn face(bbox: [f32; 4], restored: bool) -> FaceBox {
        FaceBox { bbox, restored }
    }

    #[test]
    fn frame_is_centred_and_boxes_are_in_frame_pixels() {
        // An 8x7 frame (one letter per row) on a 12x11 target that was red: black border of 2,
        // the frame at (2, 2), and the restored (green) box (2, 2)-(5, 4) in frame pixels with its
        // 2-pixel stroke centred on the edge: (1, 1)-(6, 5) minus (3, 3)-(4, 3), moved by (2, 2).
        let frame = image(&[
            "aaaaaaaa", "bbbbbbbb", "cccccccc", "dddddddd", "eeeeeeee", "ffffffff", "gggggggg",
        ]);
        let out = RgbImage::from_pixel(12, 11, image::Rgb([255, 0, 0]));
        let overlay = Overlay {
            boxes: vec![face([2.0, 2.0, 5.0, 4.0], true)],
            ..Overlay::default()
        };
        let out = render_both(&out, &frame, &overlay);
        assert_pattern(
            &out,
            &[
                "............",
                "............",
                "..aaaaaaaa..",
                "..bGGGGGGb..",
                "..cGGGGGGc..",
                "..dGGddGGd..",
                "..eGGGGGGe..",
                "..fGGGGGGf..",
                "..gggggggg..",
                "............",
                "............",
            ],
        );
    }

    #[test]
    fn larger_frame_is_cropped_around_its_centre() {
        // 6x5 on 4x3: offset (-1, -1), so frame columns 1..=4 and rows 1..=3 show.
        let frame = image(&["......", ".abcd.", ".efgh.", ".ijkl.", "......"]);
        let out = RgbImage::from_pixel(4, 3, image::Rgb([255, 0, 0]));
        let out = render_both(&out, &frame, &Overlay::default());
        assert_pattern(&out, &["abcd", "efgh", "ijkl"]);
    }

    #[test]
    fn same_size_frame_is_copied_exactly() {
        let frame = image(&["abcd", "efgh", "ijkl"]);
        let out = render_both(&RgbImage::new(4, 3), &frame, &Overlay::default());
        assert_eq!(out, frame);
    }

    #[test]
    fn centring_is_a_translation_of_the_same_size_drawing() {
        // Two boxes and the split divider with its labels, all inside the frame (the target clips
        // them, not the frame's edge), drawn at the frame's size, then centred on a larger target:
        // the same pixels, moved, on black.
        let frame = RgbImage::from_fn(90, 40, |x, y| image::Rgb([x as u8 * 2, y as u8 * 6, 90]));
        let overlay = Overlay {
            boxes: vec![
                face([5.4, 6.6, 20.0, 30.0], true),
                face([60.0, 1.0, 88.0, 12.0], false),
            ],
            split_x: Some(45),
            ..Overlay::default()
        };
        let small = render_both(&RgbImage::new(90, 40), &frame, &overlay);
        let large = render_both(&RgbImage::new(101, 53), &frame, &overlay);
        let (dx, dy) = ((101 - 90) / 2, (53 - 40) / 2);
        for (x, y, p) in large.enumerate_pixels() {
            let inside = (dx..dx + 90).contains(&x) && (dy..dy + 40).contains(&y);
            let expected = if inside {
                *small.get_pixel(x - dx, y - dy)
            } else {
                image::Rgb([0, 0, 0])
            };
            assert_eq!(*p, expected, "({x}, {y})");
        }
        // The overlay did draw: the divider's column is white from top to bottom, and the boxes'
        // corners have their colours.
        assert!((0..40).all(|y| small.get_pixel(45, y).0 == [255, 255, 255]));
        assert_eq!(small.get_pixel(5, 7).0, [40, 220, 60]);
        assert_eq!(small.get_pixel(88, 12).0, [240, 200, 30]);
    }

    #[test]
    fn text_lines_are_drawn_top_left_with_a_black_background() {
        // "1" in the 6x10 font at (4, 4): a black 6x10 cell with the white glyph, frame elsewhere.
        let frame = RgbImage::from_pixel(14, 16, image::Rgb([20, 2, 2]));
        let overlay = Overlay {
            lines: vec!["1".into()],
            ..Overlay::default()
        };
        let out = render_both(&RgbImage::new(14, 16), &frame, &overlay);
        assert_pattern(
            &out,
            &[
                "bbbbbbbbbbbbbb",
                "bbbbbbbbbbbbbb",
                "bbbbbbbbbbbbbb",
                "bbbbbbbbbbbbbb",
                "bbbb......bbbb",
                "bbbb..#...bbbb",
                "bbbb.##...bbbb",
                "bbbb#.#...bbbb",
                "bbbb..#...bbbb",
                "bbbb..#...bbbb",
                "bbbb..#...bbbb",
                "bbbb#####.bbbb",
                "bbbb......bbbb",
                "bbbb......bbbb",
                "bbbbbbbbbbbbbb",
                "bbbbbbbbbbbbbb",
            ],
        );
    }

    #[test]
    fn no_signal_replaces_the_frame() {
        let frame = RgbImage::from_pixel(120, 80, image::Rgb([100, 150, 200]));
        let overlay = Overlay {
            no_signal: Some("retrying".into()),
            ..Overlay::default()
        };
        let out = render_both(&RgbImage::new(120, 80), &frame, &overlay);
        // The centre is (59, 39). "NO SIGNAL": 9 cells of 10x20, centred, middle baseline 9 px
        // below the cell top: x 14..104, y 30..50, white on the background. "retrying": 8 cells
        // of 6x10 centred 24 px lower (middle baseline 4 px below the top): x 35..83, y 59..69,
        // grey. Everything else is the background.
        let (bg, white, grey) = ([10, 10, 60], [255, 255, 255], [200, 200, 200]);
        let (mut whites, mut greys) = (0, 0);
        for (x, y, p) in out.enumerate_pixels() {
            if (14..104).contains(&x) && (30..50).contains(&y) {
                assert!(p.0 == bg || p.0 == white, "({x}, {y}) {p:?}");
                whites += usize::from(p.0 == white);
            } else if (35..83).contains(&x) && (59..69).contains(&y) {
                assert!(p.0 == bg || p.0 == grey, "({x}, {y}) {p:?}");
                greys += usize::from(p.0 == grey);
            } else {
                assert_eq!(p.0, bg, "({x}, {y})");
            }
        }
        assert_eq!((whites, greys), (402, 99));
    }

    #[test]
    fn a_marked_face_has_a_two_pixel_outline_inside_its_box_and_five_pixel_keypoints() {
        let mut img = RgbImage::new(40, 40);
        let mut keypoints = [[20.0, 20.0]; 6];
        keypoints[0] = [14.5, 15.5]; // right eye: yellow square 12..=16 x 13..=17
        keypoints[4] = [0.5, 39.5]; // an ear at the corner: clipped, no panic
        let marked = Face {
            bbox: [5.2, 6.0, 30.0, 33.4],
            score: 0.9,
            keypoints,
        };
        mark_face(&mut img, &marked, [0, 255, 0]);
        let px = |x: u32, y: u32| img.get_pixel(x, y).0;
        let (green, black) = ([0, 255, 0], [0, 0, 0]);
        // the outline covers x 5..=30, y 6..=33, two pixels thick, inside the box
        for (x, y) in [
            (5, 20),
            (6, 20),
            (30, 20),
            (29, 20),
            (20, 6),
            (20, 7),
            (20, 33),
            (20, 32),
        ] {
            assert_eq!(px(x, y), green, "({x}, {y})");
        }
        for (x, y) in [
            (4, 20),
            (7, 25),
            (31, 20),
            (28, 25),
            (25, 5),
            (25, 8),
            (25, 34),
            (25, 31),
        ] {
            assert_eq!(px(x, y), black, "({x}, {y})");
        }
        let yellow = [255, 255, 0];
        assert_eq!((px(12, 13), px(16, 17)), (yellow, yellow));
        assert_eq!(
            (px(11, 15), px(17, 15), px(14, 12), px(14, 18)),
            (black, black, black, black)
        );
        assert_eq!(
            (px(0, 39), px(2, 37), px(3, 39)),
            ([255, 0, 255], [255, 0, 255], black)
        );
    }
}

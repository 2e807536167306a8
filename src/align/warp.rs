//! Inverse-mapped bilinear warp of a frame into a square crop, with mirrored borders.
//!
//! Hand-written rather than `imageproc::geometric_transformations::warp_into` because (1) that
//! fills out-of-frame samples with a constant colour and we need mirrored borders so faces at the
//! frame edge do not get black bands the network would try to "restore", (2) it supersamples
//! nothing, so large faces shrunk into a 128-px crop alias, and (3) the paste-back direction must
//! visit only the face's footprint in the frame, not every frame pixel.

use image::RgbImage;

use super::Similarity;

/// Mirror an integer index into `0..len` (reflect-101: `-1 -> 1`, `len -> len - 2`).
#[inline]
pub(crate) fn reflect(i: i64, len: i64) -> i64 {
    if len <= 1 {
        return 0;
    }
    let period = 2 * (len - 1);
    let m = i.rem_euclid(period);
    if m < len {
        m
    } else {
        period - m
    }
}

/// Bilinear sample of `image` at index-space position `(x, y)` (pixel `i` covers `[i, i+1)`, its
/// centre is at `i + 0.5`: pass continuous coordinates minus 0.5). Borders are mirrored.
#[inline]
pub(crate) fn sample_reflect(image: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let (w, h) = (image.width() as i64, image.height() as i64);
    let (fx, fy) = (x.floor(), y.floor());
    let (dx, dy) = (x - fx, y - fy);
    let (x0, y0) = (fx as i64, fy as i64);
    // Inside the image (the common case) no mirroring is needed.
    let (xs, ys) = if x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h {
        (
            [x0 as usize, x0 as usize + 1],
            [y0 as usize, y0 as usize + 1],
        )
    } else {
        (
            [reflect(x0, w) as usize, reflect(x0 + 1, w) as usize],
            [reflect(y0, h) as usize, reflect(y0 + 1, h) as usize],
        )
    };
    let raw = image.as_raw();
    let stride = w as usize * 3;
    let mut out = [0.0f32; 3];
    let weights = [
        (1.0 - dx) * (1.0 - dy),
        dx * (1.0 - dy),
        (1.0 - dx) * dy,
        dx * dy,
    ];
    let offsets = [
        ys[0] * stride + xs[0] * 3,
        ys[0] * stride + xs[1] * 3,
        ys[1] * stride + xs[0] * 3,
        ys[1] * stride + xs[1] * 3,
    ];
    for (weight, offset) in weights.iter().zip(offsets) {
        for (c, acc) in out.iter_mut().enumerate() {
            *acc += weight * raw[offset + c] as f32;
        }
    }
    out
}

/// Warp `frame` into a `size` x `size` crop: crop pixel `(u, v)` takes the frame colour at
/// `to_crop.inverse()(u + 0.5, v + 0.5)`. When the crop shrinks the frame by more than 1.5x, each
/// crop pixel averages a k x k grid of bilinear samples (k <= 4) so large faces do not alias.
/// Returns `None` when `to_crop` cannot be inverted or the frame is empty.
pub fn warp_to_crop(frame: &RgbImage, to_crop: &Similarity, size: u32) -> Option<RgbImage> {
    if frame.width() == 0 || frame.height() == 0 {
        return None;
    }
    let to_frame = to_crop.inverse()?;
    let shrink = to_frame.scale();
    let k = (shrink.round() as u32).clamp(1, 4);
    let step = 1.0 / k as f32;
    let norm = 1.0 / (k * k) as f32;
    let mut crop = RgbImage::new(size, size);
    for (u, v, pixel) in crop.enumerate_pixels_mut() {
        let mut acc = [0.0f32; 3];
        for sy in 0..k {
            for sx in 0..k {
                let cu = u as f32 + (sx as f32 + 0.5) * step;
                let cv = v as f32 + (sy as f32 + 0.5) * step;
                let p = to_frame.apply([cu, cv]);
                let s = sample_reflect(frame, p[0] - 0.5, p[1] - 0.5);
                for c in 0..3 {
                    acc[c] += s[c];
                }
            }
        }
        for (channel, sum) in pixel.0.iter_mut().zip(acc) {
            *channel = (sum * norm).round().clamp(0.0, 255.0) as u8;
        }
    }
    Some(crop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_mirrors_without_repeating_the_edge() {
        let got: Vec<i64> = (-3..8).map(|i| reflect(i, 5)).collect();
        assert_eq!(got, vec![3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1]);
        assert_eq!(reflect(-7, 1), 0);
    }

    #[test]
    fn identity_warp_copies_the_frame() {
        let frame = RgbImage::from_fn(8, 8, |x, y| image::Rgb([(x * 30) as u8, (y * 30) as u8, 7]));
        let crop = warp_to_crop(&frame, &Similarity::IDENTITY, 8).expect("invertible");
        assert_eq!(crop, frame);
    }

    #[test]
    fn crop_beyond_the_frame_mirrors_it() {
        let frame = RgbImage::from_fn(4, 1, |x, _| image::Rgb([(x * 50) as u8, 0, 0]));
        // Shift left by 2 pixels: crop x = frame x + 2, so crop 0..2 looks left of the frame.
        let shift = Similarity {
            a: 1.0,
            b: 0.0,
            tx: 2.0,
            ty: 0.0,
        };
        let crop = warp_to_crop(&frame, &shift, 4).expect("invertible");
        let row: Vec<u8> = (0..4).map(|x| crop.get_pixel(x, 0).0[0]).collect();
        assert_eq!(row, vec![100, 50, 0, 50]);
    }
}

//! Pre- and post-processing: RGB u8 pixels <-> planar f32 NCHW in the model's normalisation.
//!
//! Both directions work in place on the tensor's own buffer: no intermediate image or array.

use image::RgbImage;

use super::metadata::{ChannelOrder, ValueRange};

/// Plane index (0..3) that pixel channel `c` (R=0, G=1, B=2) goes to.
fn plane_of(channel: usize, order: ChannelOrder) -> usize {
    match order {
        ChannelOrder::Rgb => channel,
        ChannelOrder::Bgr => 2 - channel,
    }
}

/// Writes `image` into `planes` (length `3 * w * h`, NCHW with N = 1) as `low + v/255 * (high-low)`.
///
/// The caller guarantees `planes.len() == 3 * width * height`.
pub(crate) fn image_to_planes(
    image: &RgbImage,
    range: ValueRange,
    order: ChannelOrder,
    planes: &mut [f32],
) {
    let plane_len = (image.width() * image.height()) as usize;
    let scale = (range.high - range.low) / 255.0;
    let (p0, rest) = planes.split_at_mut(plane_len);
    let (p1, p2) = rest.split_at_mut(plane_len);
    let outs: [&mut [f32]; 3] = [p0, p1, p2];
    let targets = [plane_of(0, order), plane_of(1, order), plane_of(2, order)];
    for (i, px) in image.as_raw().chunks_exact(3).enumerate() {
        for c in 0..3 {
            outs[targets[c]][i] = range.low + px[c] as f32 * scale;
        }
    }
}

/// Converts network output `planes` (NCHW, N = 1, `size`x`size`) back to an RGB image:
/// clamp to the value range, map to 0..=255, round.
pub(crate) fn planes_to_image(
    planes: &[f32],
    size: u32,
    range: ValueRange,
    order: ChannelOrder,
) -> RgbImage {
    let plane_len = (size * size) as usize;
    let scale = 255.0 / (range.high - range.low);
    let src = [
        &planes[plane_of(0, order) * plane_len..][..plane_len],
        &planes[plane_of(1, order) * plane_len..][..plane_len],
        &planes[plane_of(2, order) * plane_len..][..plane_len],
    ];
    let mut raw = vec![0u8; plane_len * 3];
    for (i, px) in raw.chunks_exact_mut(3).enumerate() {
        for c in 0..3 {
            // NaN clamps to low (f32::clamp keeps NaN; max() drops it).
            let v = src[c][i].max(range.low).min(range.high);
            px[c] = ((v - range.low) * scale).round() as u8;
        }
    }
    // The buffer has exactly size*size*3 bytes, so this cannot fail.
    RgbImage::from_raw(size, size, raw).unwrap_or_else(|| RgbImage::new(size, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RANGE: ValueRange = ValueRange {
        low: -1.0,
        high: 1.0,
    };

    #[test]
    fn round_trip_is_exact() {
        let img = RgbImage::from_fn(4, 4, |x, y| image::Rgb([x as u8 * 60, y as u8 * 70, 255]));
        for order in [ChannelOrder::Rgb, ChannelOrder::Bgr] {
            let mut planes = vec![0.0; 48];
            image_to_planes(&img, RANGE, order, &mut planes);
            assert_eq!(planes_to_image(&planes, 4, RANGE, order), img);
        }
    }

    #[test]
    fn normalisation_follows_contract() {
        let img = RgbImage::from_pixel(1, 1, image::Rgb([0, 255, 51]));
        let mut planes = vec![0.0; 3];
        image_to_planes(&img, RANGE, ChannelOrder::Rgb, &mut planes);
        assert_eq!(planes[0], -1.0);
        assert_eq!(planes[1], 1.0);
        assert!((planes[2] - (51.0 / 127.5 - 1.0)).abs() < 1e-6);
        let mut bgr = vec![0.0; 3];
        image_to_planes(&img, RANGE, ChannelOrder::Bgr, &mut bgr);
        assert_eq!(bgr, vec![planes[2], planes[1], planes[0]]);
    }

    #[test]
    fn output_is_clamped_and_rounded() {
        let planes = [
            5.0,
            -7.0,
            f32::NAN,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
        ];
        let img = planes_to_image(&planes, 2, RANGE, ChannelOrder::Rgb);
        assert_eq!(img.get_pixel(0, 0)[0], 255);
        assert_eq!(img.get_pixel(1, 0)[0], 0);
        assert_eq!(img.get_pixel(0, 1)[0], 0);
        assert_eq!(img.get_pixel(0, 0)[1], 128); // (0 + 1) * 127.5 = 127.5 -> 128
    }
}

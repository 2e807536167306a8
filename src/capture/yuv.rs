//! YUV to RGB conversion (BT.601, limited range as cameras and Y4M files deliver it).

use image::RgbImage;

/// Converts one BT.601 limited-range Y'CbCr sample to RGB.
#[inline]
pub fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = (y as i32 - 16).max(0) * 298;
    let d = u as i32 - 128;
    let e = v as i32 - 128;
    let clamp = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    [
        clamp(c + 409 * e),
        clamp(c - 100 * d - 208 * e),
        clamp(c + 516 * d),
    ]
}

/// Converts one RGB pixel to BT.601 limited-range Y, Cb, Cr: the inverse of [`yuv_to_rgb`]
/// (a round trip moves a value by at most a few levels).
pub fn rgb_to_yuv([r, g, b]: [u8; 3]) -> [u8; 3] {
    let (r, g, b) = (r as i32, g as i32, b as i32);
    let clamp = |x: i32| x.clamp(0, 255) as u8;
    [
        clamp(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16),
        clamp(((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128),
        clamp(((112 * r - 94 * g - 18 * b + 128) >> 8) + 128),
    ]
}

/// Packs an RGB frame as YUYV 4:2:2 (BT.601 limited range, [`rgb_to_yuv`]; each pair's chroma
/// from its first pixel), the layout a UVC camera sends: `daefr bench` times the camera path's
/// conversion on it.
pub fn rgb_to_yuyv(frame: &RgbImage) -> Vec<u8> {
    let (w, h) = frame.dimensions();
    let mut out = Vec::with_capacity(w as usize * h as usize * 2);
    for y in 0..h {
        for x in (0..w).step_by(2) {
            let [y0, u, v] = rgb_to_yuv(frame.get_pixel(x, y).0);
            let [y1, _, _] = rgb_to_yuv(frame.get_pixel((x + 1).min(w - 1), y).0);
            out.extend_from_slice(&[y0, u, y1, v]);
        }
    }
    out
}

/// Converts packed YUYV 4:2:2 (`Y0 U Y1 V` per two pixels) to RGB. `None` if `data` is too short.
pub fn yuyv_to_rgb(data: &[u8], width: u32, height: u32) -> Option<RgbImage> {
    let (w, h) = (width as usize, height as usize);
    let needed = w.checked_mul(h)?.checked_mul(2)?;
    if data.len() < needed || w % 2 != 0 {
        return None;
    }
    let mut out = vec![0u8; w * h * 3];
    for (quad, px) in data[..needed].chunks_exact(4).zip(out.chunks_exact_mut(6)) {
        let (y0, u, y1, v) = (quad[0], quad[1], quad[2], quad[3]);
        px[..3].copy_from_slice(&yuv_to_rgb(y0, u, v));
        px[3..].copy_from_slice(&yuv_to_rgb(y1, u, v));
    }
    RgbImage::from_raw(width, height, out)
}

/// Converts planar 8-bit Y'CbCr with chroma subsampled by `sx` x `sy` (1 or 2) to RGB.
/// `None` if a plane is too short.
pub fn planar_to_rgb(
    y: &[u8],
    u: &[u8],
    v: &[u8],
    width: u32,
    height: u32,
    sx: usize,
    sy: usize,
) -> Option<RgbImage> {
    let (w, h) = (width as usize, height as usize);
    let cw = w.div_ceil(sx);
    let ch = h.div_ceil(sy);
    if y.len() < w * h || u.len() < cw * ch || v.len() < cw * ch {
        return None;
    }
    let mut out = vec![0u8; w * h * 3];
    for row in 0..h {
        let crow = (row / sy) * cw;
        for col in 0..w {
            let ci = crow + col / sx;
            let rgb = yuv_to_rgb(y[row * w + col], u[ci], v[ci]);
            let o = (row * w + col) * 3;
            out[o..o + 3].copy_from_slice(&rgb);
        }
    }
    RgbImage::from_raw(width, height, out)
}

/// One camera buffer as RGB: packed YUYV of `width` x `height`, or a Motion-JPEG frame (any size
/// the JPEG says). The part of the V4L2 source that needs no device, so it is tested without one.
pub fn camera_frame_to_rgb(
    bytes: &[u8],
    width: u32,
    height: u32,
    format: super::PixelFormat,
) -> Result<RgbImage, String> {
    match format {
        super::PixelFormat::Mjpeg => {
            image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg)
                .map(|i| i.to_rgb8())
                .map_err(|e| format!("bad MJPEG frame: {e}"))
        }
        super::PixelFormat::Yuyv => yuyv_to_rgb(bytes, width, height).ok_or_else(|| {
            format!(
                "short YUYV frame: {} bytes for {width}x{height}",
                bytes.len()
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::PixelFormat;

    #[test]
    fn yuyv_packing_round_trips_through_the_camera_conversion() {
        let frame = RgbImage::from_fn(6, 2, |x, y| {
            image::Rgb([(x * 40) as u8, (y * 90) as u8, 200])
        });
        let packed = rgb_to_yuyv(&frame);
        assert_eq!(packed.len(), 6 * 2 * 2);
        let back = yuyv_to_rgb(&packed, 6, 2).expect("decodes");
        for (a, b) in frame.pixels().zip(back.pixels()).step_by(2) {
            for c in 0..3 {
                assert!((a[c] as i32 - b[c] as i32).abs() <= 3, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn rgb_to_yuv_and_back_stays_within_a_few_levels() {
        for rgb in [
            [0, 0, 0],
            [255, 255, 255],
            [200, 30, 90],
            [12, 240, 128],
            [128, 128, 128],
        ] {
            let [y, u, v] = rgb_to_yuv(rgb);
            let back = yuv_to_rgb(y, u, v);
            for c in 0..3 {
                assert!(
                    (back[c] as i32 - rgb[c] as i32).abs() <= 3,
                    "{rgb:?} -> {:?} -> {back:?}",
                    [y, u, v]
                );
            }
        }
        assert_eq!(rgb_to_yuv([0, 0, 0]), [16, 128, 128]);
        assert_eq!(rgb_to_yuv([255, 255, 255]), [235, 128, 128]);
    }

    #[test]
    fn camera_buffers_of_both_formats_become_rgb() {
        let yuyv = [235, 128, 16, 128, 16, 128, 235, 128];
        let img = camera_frame_to_rgb(&yuyv, 2, 2, PixelFormat::Yuyv).expect("yuyv");
        assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255]);
        let err = camera_frame_to_rgb(&yuyv[..6], 2, 2, PixelFormat::Yuyv).unwrap_err();
        assert!(err.contains("short YUYV frame: 6 bytes"), "{err}");
        let mut jpeg = Vec::new();
        RgbImage::from_pixel(16, 8, image::Rgb([200, 40, 40]))
            .write_to(
                &mut std::io::Cursor::new(&mut jpeg),
                image::ImageFormat::Jpeg,
            )
            .expect("encode");
        let img = camera_frame_to_rgb(&jpeg, 0, 0, PixelFormat::Mjpeg).expect("mjpeg");
        assert_eq!(img.dimensions(), (16, 8));
        assert!(img.get_pixel(4, 4).0[0] > 180);
        let err = camera_frame_to_rgb(&jpeg[..20], 16, 8, PixelFormat::Mjpeg).unwrap_err();
        assert!(err.starts_with("bad MJPEG frame"), "{err}");
    }

    #[test]
    fn grey_levels_map_to_full_range() {
        assert_eq!(yuv_to_rgb(16, 128, 128), [0, 0, 0]);
        assert_eq!(yuv_to_rgb(235, 128, 128), [255, 255, 255]);
        let red = yuv_to_rgb(81, 90, 240);
        assert!(red[0] > 240 && red[1] < 20 && red[2] < 20, "{red:?}");
    }

    #[test]
    fn yuyv_rejects_short_buffers_and_decodes_pairs() {
        assert!(yuyv_to_rgb(&[0; 7], 2, 2).is_none());
        let img = yuyv_to_rgb(&[235, 128, 16, 128, 16, 128, 235, 128], 2, 2).unwrap();
        assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255]);
        assert_eq!(img.get_pixel(1, 0).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(1, 1).0, [255, 255, 255]);
    }
}

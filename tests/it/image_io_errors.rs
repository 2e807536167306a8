//! Image reading: every bad input gives a one-line error naming the file; odd colour types and
//! EXIF orientation are converted, not refused.

use crate::util::*;
use std::path::{Path, PathBuf};

use daefr::image_io::{read_rgb, read_rgb_with_limit, write_rgb};
use daefr::Error;
use image::{ImageBuffer, Luma, LumaA, Rgb, RgbImage, Rgba};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/images")
        .join(name)
}

fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| Rgb([(x * 7) as u8, (y * 5) as u8, 99]))
}

#[test]
fn missing_file_is_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.png");
    let err = read_rgb(&path).expect_err("should fail");
    assert!(matches!(err.kind(), Error::Io { .. }), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn zero_byte_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.jpg");
    std::fs::write(&path, b"").unwrap();
    let err = read_rgb(&path).expect_err("should fail");
    assert!(err.to_string().contains("empty"), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn not_an_image_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("text.png");
    std::fs::write(&path, b"hello, not a picture").unwrap();
    let err = read_rgb(&path).expect_err("should fail");
    assert!(matches!(err.kind(), Error::ImageDecode { .. }), "{err}");
    assert_names_file(&err, &path);
}

fn truncated_copy(dir: &Path, name: &str, keep_fraction: f64) -> PathBuf {
    let full = dir.join(format!("full-{name}"));
    write_rgb(&full, &gradient(64, 64)).unwrap();
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.join(name);
    std::fs::write(
        &cut,
        &bytes[..(bytes.len() as f64 * keep_fraction) as usize],
    )
    .unwrap();
    cut
}

#[test]
fn truncated_png_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = truncated_copy(dir.path(), "cut.png", 0.5);
    let err = read_rgb(&path).expect_err("should fail");
    assert!(matches!(err.kind(), Error::ImageDecode { .. }), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn truncated_jpeg_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = truncated_copy(dir.path(), "cut.jpg", 0.5);
    let err = read_rgb(&path).expect_err("should fail");
    assert!(matches!(err.kind(), Error::ImageDecode { .. }), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn header_only_jpeg_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = truncated_copy(dir.path(), "header.jpg", 0.15);
    let err = read_rgb(&path).expect_err("should fail");
    assert_names_file(&err, &path);
}

#[test]
fn one_by_one_image_is_too_small() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dot.png");
    write_rgb(&path, &gradient(1, 1)).unwrap();
    let err = read_rgb(&path).expect_err("should fail");
    assert!(
        matches!(
            err.kind(),
            Error::ImageTooSmall {
                width: 1,
                height: 1,
                ..
            }
        ),
        "{err}"
    );
    assert_names_file(&err, &path);
}

/// A PNG whose IHDR claims `w`x`h` (no pixel data): for 0x0 and for huge sizes that must be
/// refused from the header alone.
fn png_header_only(path: &Path, w: u32, h: u32) {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in bytes {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut body = b"IHDR".to_vec();
    body.extend_from_slice(&w.to_be_bytes());
    body.extend_from_slice(&h.to_be_bytes());
    body.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    // IHDR, then a (bogus) IDAT and IEND: decoders read the header up to the first IDAT.
    for (kind, data) in [
        (&b"IHDR"[..], &body[4..]),
        (b"IDAT", &[0x78, 0x9c, 0, 0][..]),
        (b"IEND", &[][..]),
    ] {
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(data);
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        png.extend_from_slice(&chunk);
        png.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    std::fs::write(path, png).unwrap();
}

#[test]
fn zero_by_zero_png_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zero.png");
    png_header_only(&path, 0, 0);
    let err = read_rgb(&path).expect_err("should fail");
    assert_names_file(&err, &path);
}

#[test]
fn huge_image_is_refused_from_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.png");
    // 10000 x 6000 = 60 MP: over the 50 MP default; the file is only a header, so decoding it
    // would fail differently. The error must be the size refusal.
    png_header_only(&path, 10_000, 6_000);
    let err = read_rgb(&path).expect_err("should fail");
    assert!(
        matches!(
            err.kind(),
            Error::ImageTooLarge {
                width: 10_000,
                height: 6_000,
                ..
            }
        ),
        "{err}"
    );
    assert_names_file(&err, &path);
}

#[test]
fn pixel_limit_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.png");
    write_rgb(&path, &gradient(64, 64)).unwrap();
    assert!(read_rgb_with_limit(&path, 64 * 64).is_ok());
    let err = read_rgb_with_limit(&path, 64 * 64 - 1).expect_err("should fail");
    assert!(matches!(err.kind(), Error::ImageTooLarge { .. }), "{err}");
}

#[test]
fn grayscale_rgba_and_16_bit_pngs_are_converted() {
    let dir = tempfile::tempdir().unwrap();
    let gray = dir.path().join("gray.png");
    ImageBuffer::from_fn(16, 16, |x, _| Luma([x as u8 * 16]))
        .save(&gray)
        .unwrap();
    let img = read_rgb(&gray).unwrap();
    assert_eq!(img.get_pixel(3, 0), &Rgb([48, 48, 48]));

    let gray_alpha = dir.path().join("gray-alpha.png");
    ImageBuffer::from_fn(16, 16, |_, _| LumaA([200u8, 10]))
        .save(&gray_alpha)
        .unwrap();
    assert_eq!(
        read_rgb(&gray_alpha).unwrap().get_pixel(0, 0),
        &Rgb([200, 200, 200])
    );

    let rgba = dir.path().join("rgba.png");
    ImageBuffer::from_fn(16, 16, |_, _| Rgba([10u8, 20, 30, 0]))
        .save(&rgba)
        .unwrap();
    assert_eq!(read_rgb(&rgba).unwrap().get_pixel(5, 5), &Rgb([10, 20, 30]));

    let deep = dir.path().join("rgb16.png");
    ImageBuffer::from_fn(16, 16, |_, _| Rgb([65535u16, 0, 32896]))
        .save(&deep)
        .unwrap();
    assert_eq!(
        read_rgb(&deep).unwrap().get_pixel(0, 0),
        &Rgb([255, 0, 128])
    );
}

#[test]
fn cmyk_jpeg_is_converted() {
    // 16x16, top half full cyan ink, bottom half no ink (made with PIL, see tests/fixtures/images).
    let img = read_rgb(&fixture("cmyk.jpg")).unwrap();
    assert_eq!(img.dimensions(), (16, 16));
    let top = img.get_pixel(8, 2);
    let bottom = img.get_pixel(8, 13);
    assert!(
        top[0] < 60 && top[1] > 190 && top[2] > 190,
        "top should be cyan: {top:?}"
    );
    assert!(
        bottom.0.iter().all(|&c| c > 220),
        "bottom should be white: {bottom:?}"
    );
}

#[test]
fn exif_orientation_is_applied() {
    // Stored 32x16 with the left half red and EXIF orientation 6 (rotate 90 degrees clockwise):
    // shown 16x32 with red on top.
    let img = read_rgb(&fixture("exif-orientation-6.jpg")).unwrap();
    assert_eq!(img.dimensions(), (16, 32));
    let top = img.get_pixel(8, 4);
    let bottom = img.get_pixel(8, 28);
    assert!(top[0] > 200 && top[2] < 60, "top should be red: {top:?}");
    assert!(
        bottom[2] > 200 && bottom[0] < 60,
        "bottom should be blue: {bottom:?}"
    );
}

#[test]
fn unsupported_output_extension_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.gif");
    let err = write_rgb(&path, &gradient(8, 8)).expect_err("should fail");
    assert!(matches!(err.kind(), Error::ImageEncode { .. }), "{err}");
    assert_names_file(&err, &path);
}

#[test]
fn jpeg_with_a_long_trailer_after_eoi_is_accepted() {
    // Phones append vendor data after the end-of-image marker; that is not truncation.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trailer.jpg");
    write_rgb(&path, &gradient(32, 32)).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend(std::iter::repeat_n(0x5Au8, 10_000));
    std::fs::write(&path, bytes).unwrap();
    assert_eq!(read_rgb(&path).unwrap().dimensions(), (32, 32));
}

#[test]
fn a_jpeg_with_corrupt_scan_data_is_refused_not_decoded_to_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("good.jpg");
    let noisy = RgbImage::from_fn(96, 96, |x, y| {
        let v = (x
            .wrapping_mul(2654435761)
            .wrapping_add(y.wrapping_mul(40503))
            >> 7) as u8;
        Rgb([v, v.wrapping_mul(3), v ^ 0x5a])
    });
    write_rgb(&full, &noisy).unwrap();
    let mut bytes = std::fs::read(&full).unwrap();
    read_rgb(&full).expect("the intact file reads");
    // the start of the entropy-coded data: after the SOS segment's header
    let sos = bytes
        .windows(2)
        .position(|w| w == [0xFF, 0xDA])
        .expect("SOS");
    let header = usize::from(bytes[sos + 2]) << 8 | usize::from(bytes[sos + 3]);
    let scan = sos + 2 + header;
    let end = bytes.len() - 2;
    // a burst of damage in the middle of the scan (no 0xFF, so no fake marker)
    let mid = scan + (end - scan) / 2;
    for (i, b) in bytes[mid..mid + 48].iter_mut().enumerate() {
        *b = [0x00, 0x7F, 0xFE, 0x01][i % 4];
    }
    let bad = dir.path().join("bad.jpg");
    std::fs::write(&bad, &bytes).unwrap();
    assert!(
        image::open(&bad).is_ok(),
        "premise: the lenient decoder returns an image"
    );
    let err = read_rgb(&bad).expect_err("corrupt scan data must be refused");
    assert!(err.to_string().contains("corrupt JPEG data"), "{err}");
    assert_names_file(&err, &bad);
}

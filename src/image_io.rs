//! Safe image reading and writing: size checked before decoding, EXIF orientation applied,
//! every colour type (grey, RGBA, 16-bit, CMYK JPEG) converted to 8-bit RGB.

use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

use crate::{Error, Result};

/// Default refusal threshold: images over 50 megapixels are not decoded.
pub const DEFAULT_MAX_PIXELS: u64 = 50_000_000;

/// Smallest accepted side in pixels; anything smaller cannot hold a face.
pub const MIN_SIDE: u32 = 8;

/// Extensions (lower case) that [`read_rgb`] and [`write_rgb`] handle.
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg"];

/// True if the file name has one of [`IMAGE_EXTENSIONS`] (case-insensitive).
pub fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn decode_error(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::ImageDecode {
        path: path.to_path_buf(),
        message: message.to_string().replace('\n', " "),
    }
}

/// Reads an image as 8-bit RGB with the default pixel limit ([`DEFAULT_MAX_PIXELS`]).
pub fn read_rgb(path: &Path) -> Result<RgbImage> {
    read_rgb_with_limit(path, DEFAULT_MAX_PIXELS)
}

/// Reads an image as 8-bit RGB. The header is read first: images over `max_pixels` or under
/// [`MIN_SIDE`] are refused before any pixel is decoded. EXIF orientation is applied.
pub fn read_rgb_with_limit(path: &Path, max_pixels: u64) -> Result<RgbImage> {
    let io_err = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io_err)?;
    if !meta.is_file() {
        return Err(decode_error(path, "not a file"));
    }
    if meta.len() == 0 {
        return Err(decode_error(path, "file is empty (0 bytes)"));
    }
    let mut reader = ImageReader::open(path)
        .map_err(io_err)?
        .with_guessed_format()
        .map_err(io_err)?;
    if reader.format().is_none() {
        return Err(decode_error(path, "not a PNG or JPEG file"));
    }
    if reader.format() == Some(ImageFormat::Jpeg) && !jpeg_has_end_marker(path).map_err(io_err)? {
        // The JPEG decoder fills missing scans with grey instead of failing: catch it here.
        return Err(decode_error(
            path,
            "JPEG has no end-of-image marker (truncated file?)",
        ));
    }
    let mut limits = Limits::default();
    // Enough for max_pixels of 16-bit RGBA plus decoder scratch; the pixel check below is the
    // real gate, this only bounds what a lying header could make the decoder allocate.
    limits.max_alloc = Some(max_pixels.saturating_mul(8).saturating_add(64 << 20));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| decode_error(path, e))?;

    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(Error::ImageTooLarge {
            path: path.to_path_buf(),
            width,
            height,
            pixels,
            limit: max_pixels,
        });
    }
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(Error::ImageTooSmall {
            path: path.to_path_buf(),
            width,
            height,
            min: MIN_SIDE,
        });
    }
    // A broken EXIF block must not make a readable image unreadable: ignore it, log it.
    let orientation = decoder.orientation().unwrap_or_else(|e| {
        log::warn!(
            "{}: ignoring unreadable EXIF orientation: {e}",
            path.display()
        );
        image::metadata::Orientation::NoTransforms
    });
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| decode_error(path, e))?;
    image.apply_orientation(orientation);
    Ok(match image {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.to_rgb8(),
    })
}

/// True if the last bytes of a JPEG file hold its end-of-image marker (FF D9). In entropy-coded
/// data a 0xFF byte is always followed by 0x00 or a restart marker, so FF D9 near the end only
/// appears when the file is complete (a few bytes of trailing padding are tolerated).
fn jpeg_has_end_marker(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    const TAIL: u64 = 4096;
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL)))?;
    let mut tail = Vec::with_capacity(TAIL as usize);
    file.read_to_end(&mut tail)?;
    Ok(tail.windows(2).any(|w| w == [0xFF, 0xD9]))
}

/// Writes an RGB image; the format follows the extension (`.png`, `.jpg`/`.jpeg`).
pub fn write_rgb(path: &Path, image: &RgbImage) -> Result<()> {
    let encode_err = |message: String| Error::ImageEncode {
        path: path.to_path_buf(),
        message,
    };
    let format = match ImageFormat::from_path(path) {
        Ok(f @ (ImageFormat::Png | ImageFormat::Jpeg)) => f,
        _ => {
            return Err(encode_err(
                "unsupported output extension (use .png, .jpg or .jpeg)".into(),
            ))
        }
    };
    image.save_with_format(path, format).map_err(|e| match e {
        image::ImageError::IoError(source) => Error::Io {
            path: path.to_path_buf(),
            source,
        },
        other => encode_err(other.to_string()),
    })
}

//! Safe image reading and writing: size checked before decoding, EXIF orientation applied,
//! every colour type (grey, RGBA, 16-bit, CMYK JPEG) converted to 8-bit RGB.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

use crate::{Error, Result};

/// Default refusal threshold: images over 50 megapixels are not decoded.
pub const DEFAULT_MAX_PIXELS: u64 = 50_000_000;

/// Files over this size are refused before they are read (a 50 MP JPEG is ~20-40 MB).
pub const MAX_FILE_BYTES: u64 = 512 << 20;

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
    if meta.len() > MAX_FILE_BYTES {
        return Err(decode_error(
            path,
            format!(
                "file is {} bytes, over the {MAX_FILE_BYTES}-byte limit",
                meta.len()
            ),
        ));
    }
    // Read once into memory: the JPEG completeness check and the decoder share the bytes.
    let bytes = std::fs::read(path).map_err(io_err)?;
    let mut reader = ImageReader::new(Cursor::new(&bytes[..]))
        .with_guessed_format()
        .map_err(io_err)?;
    if reader.format().is_none() {
        return Err(decode_error(path, "not a PNG or JPEG file"));
    }
    if reader.format() == Some(ImageFormat::Jpeg) && !jpeg_is_complete(&bytes) {
        // The JPEG decoder fills missing scans with grey instead of failing: catch it here.
        return Err(decode_error(
            path,
            "JPEG has no end-of-image marker after its image data (truncated file?)",
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

/// True if an end-of-image marker (FF D9) follows the first start-of-scan of the main image.
///
/// The header segments (APPn with EXIF thumbnails, tables, frame header) are skipped by their
/// lengths up to the first SOS (FF DA); in entropy-coded data a 0xFF byte is always followed by
/// 0x00 or a restart marker, so FF D9 after that point only appears once the image data is
/// complete. Trailers appended after EOI (phone vendors do this) do not matter. A header this
/// walk cannot follow is left to the decoder to judge.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let mut i = 2; // after SOI
    loop {
        let (Some(&ff), Some(&marker)) = (bytes.get(i), bytes.get(i + 1)) else {
            return false; // ended inside the header
        };
        if ff != 0xFF {
            return true; // not a marker where one should be: let the decoder report it
        }
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        let Some(len) = bytes
            .get(i + 2..i + 4)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
        else {
            return false;
        };
        let next = i + 2 + len;
        if marker == 0xDA {
            return bytes
                .get(next..)
                .is_some_and(|scan| scan.windows(2).any(|w| w == [0xFF, 0xD9]));
        }
        i = next;
    }
}

/// Writes an RGB image, creating missing parent folders; the format follows the extension
/// (`.png`, `.jpg`/`.jpeg`).
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
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    image.save_with_format(path, format).map_err(|e| match e {
        image::ImageError::IoError(source) => Error::Io {
            path: path.to_path_buf(),
            source,
        },
        other => encode_err(other.to_string()),
    })
}

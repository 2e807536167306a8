//! Safe image reading and writing: size checked before decoding, EXIF orientation applied,
//! every colour type (grey, RGBA, 16-bit, CMYK JPEG) converted to 8-bit RGB.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

use crate::atomic::{write_atomically_with, AtomicWriteError, Replace};
use crate::{Error, Result};

/// Default refusal threshold: images over 50 megapixels are not decoded.
pub const DEFAULT_MAX_PIXELS: u64 = 50_000_000;

/// Files over this size are refused before they are read (a 50 MP JPEG is ~20-40 MB).
pub const MAX_FILE_BYTES: u64 = 512 << 20;

/// Smallest accepted side in pixels; anything smaller cannot hold a face.
pub const MIN_SIDE: u32 = 8;

/// Extensions (lower case) that [`read_rgb`] and [`write_rgb`] handle.
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff"];

/// The formats of [`IMAGE_EXTENSIONS`], in words, for messages.
pub const IMAGE_FORMATS: &str = "PNG, JPEG, WebP, BMP or TIFF";

/// True if the file name has one of [`IMAGE_EXTENSIONS`] (case-insensitive).
pub fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn decode_error(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::ImageDecode {
        message: message.to_string().replace('\n', " "),
    }
    .with_path(path.to_path_buf())
}

/// Reads an image as 8-bit RGB with the default pixel limit ([`DEFAULT_MAX_PIXELS`]).
pub fn read_rgb(path: &Path) -> Result<RgbImage> {
    read_rgb_with_limit(path, DEFAULT_MAX_PIXELS)
}

/// Reads an image as 8-bit RGB. The header is read first: images over `max_pixels` or under
/// [`MIN_SIDE`] are refused before any pixel is decoded. EXIF orientation is applied.
pub fn read_rgb_with_limit(path: &Path, max_pixels: u64) -> Result<RgbImage> {
    let bytes = read_image_file(path)?;
    decode_rgb(&bytes, path, max_pixels)
}

/// Decodes an image file's bytes as [`read_rgb_with_limit`] does (standard input, a pipe);
/// `path` names it in errors.
pub fn decode_rgb(bytes: &[u8], path: &Path, max_pixels: u64) -> Result<RgbImage> {
    decode_rgb_with_metadata(bytes, path, max_pixels).map(|(image, _)| image)
}

/// What a photo carries besides its pixels that an output of it should keep: the colour profile
/// and the EXIF block (its orientation reset to normal, since the pixels come out upright).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageMetadata {
    /// The ICC colour profile.
    pub icc: Option<Vec<u8>>,
    /// The EXIF block (TIFF structure, as the JPEG APP1 segment holds it).
    pub exif: Option<Vec<u8>>,
}

/// [`read_rgb`], with the file's [`ImageMetadata`].
pub fn read_rgb_with_metadata(path: &Path) -> Result<(RgbImage, ImageMetadata)> {
    let bytes = read_image_file(path)?;
    decode_rgb_with_metadata(&bytes, path, DEFAULT_MAX_PIXELS)
}

/// [`decode_rgb`], with the bytes' [`ImageMetadata`] (an unreadable profile or EXIF block is
/// left out with a warning, never an error).
pub fn decode_rgb_with_metadata(
    bytes: &[u8],
    path: &Path,
    max_pixels: u64,
) -> Result<(RgbImage, ImageMetadata)> {
    if bytes.is_empty() {
        return Err(decode_error(path, "no data (0 bytes)"));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|source| Error::Io { source }.with_path(path.to_path_buf()))?;
    let format = reader.format();
    if format.is_none() {
        return Err(decode_error(path, format!("not a {IMAGE_FORMATS} file")));
    }
    if reader.format() == Some(ImageFormat::Jpeg) && !jpeg_is_complete(bytes) {
        // The JPEG decoder fills missing scans with grey instead of failing: catch it here.
        return Err(decode_error(
            path,
            "JPEG has no end-of-image marker after its image data (truncated file?)",
        ));
    }
    if let Some((width, height)) = png_dimensions(bytes) {
        // Before the decoder sees it: a lying IHDR is a size refusal, not a memory-budget one.
        check_dimensions(path, width, height, max_pixels)?;
    }
    let limits = decoder_limits(max_pixels);
    let budget = limits.max_alloc.unwrap_or(u64::MAX);
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| image_error(path, e, budget))?;

    let (width, height) = decoder.dimensions();
    check_dimensions(path, width, height, max_pixels)?;
    let pixels = u64::from(width) * u64::from(height);
    // The decoded buffer, plus the 8-bit RGB copy made from it (or the rotated copy).
    ensure_memory(
        path,
        decoder
            .total_bytes()
            .saturating_add(pixels.saturating_mul(3)),
    )?;
    if format == Some(ImageFormat::Jpeg) {
        check_jpeg_scans(path, bytes)?;
    }
    // A broken EXIF block must not make a readable image unreadable: ignore it, log it.
    let orientation = decoder.orientation().unwrap_or_else(|e| {
        log::warn!(
            "{}: ignoring unreadable EXIF orientation: {e}",
            path.display()
        );
        image::metadata::Orientation::NoTransforms
    });
    let kept = |what: &str, found: image::ImageResult<Option<Vec<u8>>>| {
        found.unwrap_or_else(|e| {
            log::warn!("{}: {what} not kept: {e}", path.display());
            None
        })
    };
    let icc = kept("ICC profile", decoder.icc_profile());
    let exif = kept("EXIF block", decoder.exif_metadata()).map(|mut exif| {
        // the orientation it had is applied to the pixels below: the copy must say "upright"
        let _ = image::metadata::Orientation::remove_from_exif_chunk(&mut exif);
        exif
    });
    let image = DynamicImage::from_decoder(decoder).map_err(|e| image_error(path, e, budget))?;
    let mut image = match image {
        rgb @ DynamicImage::ImageRgb8(_) => rgb,
        other => DynamicImage::ImageRgb8(other.to_rgb8()),
    };
    image.apply_orientation(orientation);
    Ok((image.into_rgb8(), ImageMetadata { icc, exif }))
}

/// Reads a whole image file into memory (the JPEG completeness check and the decoder share the
/// bytes), refusing what is not a file, empty, or over [`MAX_FILE_BYTES`].
fn read_image_file(path: &Path) -> Result<Vec<u8>> {
    let io_err = |source| Error::Io { source }.with_path(path.to_path_buf());
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
    std::fs::read(path).map_err(io_err)
}

/// Width and height from a PNG's IHDR (always the first chunk), if `bytes` starts like a PNG.
fn png_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if !bytes.starts_with(SIGNATURE) || bytes.get(12..16)? != b"IHDR" {
        return None;
    }
    let be = |at: usize| Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    Some((be(16)?, be(20)?))
}

/// A decoder error on one line; a refused allocation says which budget it hit.
fn image_error(path: &Path, e: image::ImageError, budget: u64) -> Error {
    match e {
        image::ImageError::Limits(_) => decode_error(
            path,
            format!(
                "decoding needs more than the {} MB the decoder is allowed (oversized metadata chunk?)",
                budget >> 20
            ),
        ),
        other => decode_error(path, other),
    }
}

/// What a decoder may allocate besides the decoded pixels (ICC profiles, EXIF, text chunks, row
/// buffers): metadata beyond this is dropped or refused, so an 800 KB PNG whose ICC chunk
/// inflates to 400 MB costs at most this much.
pub const METADATA_BUDGET: u64 = 16 << 20;

/// Decoder limits for images of at most `max_pixels`: [`METADATA_BUDGET`] plus one row of the
/// widest image the pixel limit allows, at 16-bit RGBA. The pixel buffer itself is checked
/// separately ([`check_dimensions`], [`ensure_memory`]).
fn decoder_limits(max_pixels: u64) -> Limits {
    let widest_row = (max_pixels / u64::from(MIN_SIDE)).saturating_mul(8);
    let mut limits = Limits::default();
    limits.max_alloc = Some(METADATA_BUDGET.saturating_add(widest_row));
    limits
}

/// Width and height from an image file's header, read under the same allocation limits as
/// [`read_rgb`] (a PNG whose metadata inflates to hundreds of MB costs nothing here); `None` when
/// the header cannot be read (the reader then reports why).
pub fn header_dimensions(path: &Path) -> Option<(u32, u32)> {
    let mut reader = ImageReader::open(path).ok()?.with_guessed_format().ok()?;
    reader.limits(decoder_limits(DEFAULT_MAX_PIXELS));
    reader.into_dimensions().ok()
}

/// Refuses images over `max_pixels` or under [`MIN_SIDE`], from the header alone.
fn check_dimensions(path: &Path, width: u32, height: u32, max_pixels: u64) -> Result<()> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(Error::ImageTooLarge {
            width,
            height,
            pixels,
            limit: max_pixels,
        }
        .with_path(path.to_path_buf()));
    }
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(Error::ImageTooSmall {
            width,
            height,
            min: MIN_SIDE,
        }
        .with_path(path.to_path_buf()));
    }
    Ok(())
}

/// Fails with one line when `bytes` cannot be allocated now (an address-space limit such as
/// `ulimit -v`, a small board), instead of letting the decoder's own allocation abort the
/// process. The probe is released at once and never touched, so it costs no real memory.
fn ensure_memory(path: &Path, bytes: u64) -> Result<()> {
    let fits = usize::try_from(bytes)
        .ok()
        .is_some_and(|n| Vec::<u8>::new().try_reserve_exact(n).is_ok());
    if fits {
        return Ok(());
    }
    Err(decode_error(
        path,
        format!(
            "not enough memory to decode it (needs about {} MB)",
            bytes.div_ceil(1 << 20)
        ),
    ))
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

/// Copies the file `from` to `path` byte for byte, with [`write_rgb_with`]'s rules (missing
/// parent folders created, atomic, `options.replace`; the JPEG quality does not apply).
pub fn copy_file_with(from: &Path, path: &Path, options: &WriteOptions) -> Result<()> {
    let bytes =
        std::fs::read(from).map_err(|source| Error::Io { source }.with_path(from.to_path_buf()))?;
    create_parent(path)?;
    write_atomically_with(path, options.replace, |w| {
        std::io::Write::write_all(w, &bytes)
    })
    .map_err(|e| match e {
        AtomicWriteError::Io(source) | AtomicWriteError::Content(source) => {
            Error::Io { source }.with_path(path.to_path_buf())
        }
    })
}

/// Creates the missing parent folders of `path`.
fn create_parent(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|source| Error::Io { source }.with_path(dir.to_path_buf()))?;
    }
    Ok(())
}

/// Decodes a JPEG once in the decoder's strict mode, which fails on corrupt entropy-coded data
/// (bad Huffman codes, wrong restart markers) where the normal mode fills the damage with garbage
/// and reports nothing. Costs a second decode of JPEG inputs (within the same memory budget: the
/// buffer is freed before the real decode).
fn check_jpeg_scans(path: &Path, bytes: &[u8]) -> Result<()> {
    let options = zune_core::options::DecoderOptions::default().set_strict_mode(true);
    let mut strict = zune_jpeg::JpegDecoder::new_with_options(
        zune_core::bytestream::ZCursor::new(bytes),
        options,
    );
    strict
        .decode()
        .map(drop)
        .map_err(|e| decode_error(path, format!("corrupt JPEG data ({e:?})")))
}

/// Writes an RGB image, creating missing parent folders; the format follows the extension
/// (`.png`, `.jpg`/`.jpeg`). The write is atomic ([`crate::atomic::write_atomically`]): a full
/// disk or a crash leaves an existing file at `path` as it was.
pub fn write_rgb(path: &Path, image: &RgbImage) -> Result<()> {
    write_rgb_with(path, image, &WriteOptions::default())
}

/// JPEG quality of outputs unless told otherwise (the `image` crate's own default, 75, visibly
/// degrades a photo that was only restored in its faces).
pub const DEFAULT_JPEG_QUALITY: u8 = 95;

/// How [`write_rgb_with`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    /// Whether a file at the path may be replaced ([`Replace::Refuse`]: an I/O error of kind
    /// `AlreadyExists` if one is there when the new file is renamed into place).
    pub replace: Replace,
    /// JPEG quality, 1..=100 (ignored for PNG).
    pub jpeg_quality: u8,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            replace: Replace::Allow,
            jpeg_quality: DEFAULT_JPEG_QUALITY,
        }
    }
}

/// Writes `image` through `encoder` with `metadata`'s profile and EXIF block.
fn encode_with_metadata(
    mut encoder: impl image::ImageEncoder,
    image: &RgbImage,
    metadata: &ImageMetadata,
) -> image::ImageResult<()> {
    if let Some(icc) = &metadata.icc {
        // the encoders used here take both; an encoder that does not simply writes without
        let _ = encoder.set_icc_profile(icc.clone());
    }
    if let Some(exif) = &metadata.exif {
        let _ = encoder.set_exif_metadata(exif.clone());
    }
    let (width, height) = image.dimensions();
    encoder.write_image(
        image.as_raw(),
        width,
        height,
        image::ExtendedColorType::Rgb8,
    )
}

/// Encodes `image` in memory as `format` (PNG, JPEG at `jpeg_quality`, WebP lossless, BMP, TIFF):
/// for standard output, where there is no file to name the format.
pub fn encode_rgb(image: &RgbImage, format: ImageFormat, jpeg_quality: u8) -> Result<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    let result = match format {
        ImageFormat::Jpeg => {
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, jpeg_quality.clamp(1, 100))
                .encode_image(image)
        }
        ImageFormat::Png | ImageFormat::WebP | ImageFormat::Bmp | ImageFormat::Tiff => {
            image.write_to(&mut out, format)
        }
        other => {
            return Err(Error::ImageEncode {
                message: format!("cannot write {other:?}"),
            })
        }
    };
    result.map_err(|e| Error::ImageEncode {
        message: e.to_string(),
    })?;
    Ok(out.into_inner())
}

/// [`write_rgb`] with [`WriteOptions`].
pub fn write_rgb_with(path: &Path, image: &RgbImage, options: &WriteOptions) -> Result<()> {
    write_rgb_with_metadata(path, image, options, &ImageMetadata::default())
}

/// [`write_rgb_with`], carrying `metadata` (ICC profile, EXIF) into JPEG and PNG outputs; other
/// formats are written without it.
pub fn write_rgb_with_metadata(
    path: &Path,
    image: &RgbImage,
    options: &WriteOptions,
    metadata: &ImageMetadata,
) -> Result<()> {
    let encode_err = |message: String| Error::ImageEncode { message }.with_path(path.to_path_buf());
    let format =
        match ImageFormat::from_path(path) {
            Ok(
                f @ (ImageFormat::Png
                | ImageFormat::Jpeg
                | ImageFormat::WebP
                | ImageFormat::Bmp
                | ImageFormat::Tiff),
            ) => f,
            _ => return Err(encode_err(
                "unsupported output extension (use .png, .jpg, .jpeg, .webp, .bmp, .tif or .tiff)"
                    .into(),
            )),
        };
    create_parent(path)?;
    let quality = options.jpeg_quality.clamp(1, 100);
    let encode = |w: &mut std::io::BufWriter<&mut std::fs::File>| match format {
        ImageFormat::Jpeg => {
            let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(w, quality);
            encode_with_metadata(encoder, image, metadata)
        }
        ImageFormat::Png => {
            encode_with_metadata(image::codecs::png::PngEncoder::new(w), image, metadata)
        }
        _ => image.write_to(w, format),
    };
    write_atomically_with(path, options.replace, encode).map_err(|e| match e {
        AtomicWriteError::Io(source)
        | AtomicWriteError::Content(image::ImageError::IoError(source)) => {
            Error::Io { source }.with_path(path.to_path_buf())
        }
        AtomicWriteError::Content(other) => encode_err(other.to_string()),
    })
}

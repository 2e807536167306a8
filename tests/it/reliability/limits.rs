//! Limits are errors, not panics or aborts: threads beyond the machine, durations and frame rates
//! out of range, images and photos that would exhaust memory.

use super::*;

// ---------------------------------------------------------------------------------------------
// 5. --threads is capped at what the machine has

#[test]
fn threads_beyond_the_machine_are_capped_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("face.png");
    noisy(32, 32, 10).save(&input).expect("save");
    let mut cmd = daefr_cmd();
    cmd.args(["--threads", "100000"]);
    let inner = restore(&input, &dir.path().join("out.png"), &[]);
    cmd.args(inner.get_args());
    let out = output_within(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("100000 threads") && err.contains("using"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// 7. --duration must be a positive number of seconds

#[test]
fn a_zero_negative_or_nan_duration_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = live_profile(
        dir.path(),
        "kind = \"synthetic\"\nwidth = 320\nheight = 240\nfps = 30",
    );
    for bad in [
        "--duration=0",
        "--duration=-1",
        "--duration=nan",
        "--duration=inf",
    ] {
        let out = output_within(run_live_cli(&config, &[bad]), Duration::from_secs(60));
        assert!(!out.status.success(), "{bad} accepted");
        let err = stderr(&out);
        assert!(
            err.contains("duration") && err.contains("positive"),
            "{bad}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

// ---------------------------------------------------------------------------------------------
// 9. images that would exhaust memory are refused with one line, never an abort

fn crc32(bytes: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(bytes);
    hasher.finalize()
}

fn png_chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let mut chunk = kind.to_vec();
    chunk.extend_from_slice(data);
    png.extend_from_slice(&(data.len() as u32).to_be_bytes());
    png.extend_from_slice(&chunk);
    png.extend_from_slice(&crc32(&chunk).to_be_bytes());
}

/// A valid 64x64 PNG with an iCCP chunk that inflates to `icc_mb` MB of zeros (under 1 MB on disk).
fn icc_bomb_png(path: &Path, icc_mb: usize) {
    use std::io::Write;
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..icc_mb {
        zlib.write_all(&zeros).expect("deflate");
    }
    let profile = zlib.finish().expect("deflate");
    let mut plain = Vec::new();
    noisy(64, 64, 11)
        .write_to(
            &mut std::io::Cursor::new(&mut plain),
            image::ImageFormat::Png,
        )
        .expect("encode");
    // Insert iCCP right after IHDR (8-byte signature + 25-byte IHDR chunk).
    let mut png = plain[..33].to_vec();
    let mut iccp = b"bomb\0\0".to_vec();
    iccp.extend_from_slice(&profile);
    png_chunk(&mut png, b"iCCP", &iccp);
    png.extend_from_slice(&plain[33..]);
    std::fs::write(path, png).expect("write");
}

/// Exit by a signal (an abort is SIGABRT, exit 134 in a shell) or an allocator message.
fn assert_no_abort(out: &Output) {
    let err = stderr(out);
    assert!(out.status.code().is_some(), "killed by a signal: {err}");
    assert_ne!(out.status.code(), Some(134), "aborted: {err}");
    assert!(!err.contains("memory allocation"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[cfg(unix)]
#[test]
fn a_png_whose_icc_chunk_inflates_to_400_mb_costs_no_400_mb() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bomb = dir.path().join("bomb.png");
    icc_bomb_png(&bomb, 400);
    assert!(std::fs::metadata(&bomb).expect("meta").len() < 1 << 20);
    let cmd = restore(&bomb, &dir.path().join("out.png"), &[]);
    // 300 MB of address space: enough for daefr, not for a 400 MB profile.
    let out = output_within(with_ulimit(&cmd, "-v 300000"), Duration::from_secs(120));
    assert_no_abort(&out);
    if !out.status.success() {
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    }
}

/// A small real JPEG whose frame header is rewritten to claim `w` x `h`.
fn jpeg_claiming(path: &Path, w: u16, h: u16) {
    let mut bytes = Vec::new();
    noisy(16, 16, 12)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Jpeg,
        )
        .expect("encode");
    let sof = bytes
        .windows(2)
        .position(|m| m == [0xFF, 0xC0])
        .expect("baseline frame header");
    bytes[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    std::fs::write(path, bytes).expect("write");
}

#[cfg(unix)]
#[test]
fn a_7000_px_jpeg_that_does_not_fit_in_memory_is_refused_with_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let big = dir.path().join("big.jpg");
    jpeg_claiming(&big, 7000, 7000); // 49 MP: under the 50 MP pixel limit, 147 MB decoded
    let cmd = restore(&big, &dir.path().join("out.png"), &[]);
    // 170 MB of address space: daefr runs in it, a 147 MB image buffer does not fit beside it
    // (before the fix: "memory allocation of 147000000 bytes failed", abort, exit 134).
    let out = output_within(with_ulimit(&cmd, "-v 170000"), Duration::from_secs(120));
    assert_no_abort(&out);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("big.jpg") && err.contains("memory"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// two large photos on two workers
#[cfg(unix)]
#[test]
fn two_large_photos_on_two_workers_never_abort_for_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    std::fs::create_dir(&input).expect("mkdir");
    // two real 49-MP JPEGs (147 MB each decoded)
    let big = RgbImage::from_fn(7000, 7000, |x, y| {
        Rgb([(x / 28) as u8, (y / 28) as u8, ((x ^ y) & 0xff) as u8])
    });
    for name in ["a.jpg", "b.jpg"] {
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 50)
            .encode_image(&big)
            .expect("encode");
        std::fs::write(input.join(name), bytes).expect("write");
    }
    drop(big);
    let mut cmd = daefr_cmd();
    cmd.args([
        "restore",
        &s(&input),
        "-o",
        &s(&dir.path().join("out")),
        "--workers",
        "2",
        "--model",
        &s(&identity_model()),
    ]);
    let out = output_within(with_ulimit(&cmd, "-v 700000"), Duration::from_secs(240));
    // each photo is either restored or refused with one line; the process never aborts
    assert_no_abort(&out);
    let err = stderr(&out);
    for name in ["a.jpg", "b.jpg"] {
        assert!(err.contains(name), "{name} not reported: {err}");
    }
}

//! Atomic file replacement: write a temporary file in the target's folder, fsync it, rename it
//! over the target. A failed write (full disk, encoder error, crash) leaves the old file as it was
//! and no partial file behind.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// A failed [`write_atomically`]: either the file system refused, or the caller's writer did.
#[derive(Debug)]
pub enum AtomicWriteError<E> {
    /// Creating, syncing or renaming the temporary file failed.
    Io(std::io::Error),
    /// The caller's `write` function failed.
    Content(E),
}

/// Writes `path` through `write`, atomically: the bytes go to a hidden temporary file next to
/// `path` (`.<name>.XXXXXX.tmp`), which is flushed, fsynced and renamed over `path` only once
/// `write` succeeded. On any failure the temporary file is removed and `path` is untouched.
/// The new file gets the usual permissions (0o666 less the umask). The parent folder must exist.
pub fn write_atomically<E>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&mut File>) -> Result<(), E>,
) -> Result<(), AtomicWriteError<E>> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = temp_builder(&format!(".{name}."))
        .tempfile_in(dir)
        .map_err(AtomicWriteError::Io)?;
    {
        let mut writer = BufWriter::new(tmp.as_file_mut());
        write(&mut writer).map_err(AtomicWriteError::Content)?;
        writer.flush().map_err(AtomicWriteError::Io)?;
    }
    tmp.as_file().sync_all().map_err(AtomicWriteError::Io)?;
    tmp.persist(path)
        .map_err(|e| AtomicWriteError::Io(e.error))?;
    sync_dir(dir);
    Ok(())
}

/// [`write_atomically`] of a byte buffer.
pub fn write_bytes_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically(path, |w| w.write_all(bytes)).map_err(|e| match e {
        AtomicWriteError::Io(e) | AtomicWriteError::Content(e) => e,
    })
}

fn temp_builder(prefix: &str) -> tempfile::Builder<'_, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder
}

/// Makes the rename itself durable where the platform allows it; failing to is not an error (the
/// data is already synced, only the new name could be lost on power failure).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        log::debug!("{}: cannot fsync folder: {e}", dir.display());
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("prev.png");
        std::fs::write(&path, b"old and good").expect("write");
        let result = write_atomically(&path, |w| {
            w.write_all(b"half a new fi")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(matches!(result, Err(AtomicWriteError::Content(_))));
        assert_eq!(std::fs::read(&path).expect("read"), b"old and good");
        assert_eq!(entries(dir.path()), vec!["prev.png".to_string()]);
    }

    #[test]
    fn a_good_write_replaces_the_file_with_normal_permissions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.json");
        std::fs::write(&path, b"old").expect("write");
        write_bytes_atomically(&path, b"new").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"new");
        assert_eq!(entries(dir.path()), vec!["out.json".to_string()]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let reference = dir.path().join("plain");
            std::fs::write(&reference, b"x").expect("write");
            let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode();
            assert_eq!(
                mode(&path),
                mode(&reference),
                "same mode as fs::write gives"
            );
        }
    }
}

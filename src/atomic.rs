//! Atomic file replacement: write a temporary file in the target's folder, fsync it, rename it
//! over the target. A failed write (full disk, encoder error, crash) leaves the old file as it was
//! and no partial file behind. A path that is a symbolic link is written through (the link stays,
//! its target gets the new content); a replaced file keeps its permissions and, where the process
//! may set it, its owner; [`Replace::Refuse`] makes the rename itself fail when a file has appeared
//! at the path meanwhile (no check-then-write race).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Whether [`write_atomically_with`] may replace an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Replace a file that exists at the path (keeping its permissions and owner).
    Allow,
    /// Fail with `ErrorKind::AlreadyExists` if a file exists at the path when the new one is
    /// renamed into place (a no-clobber rename: the check holds at the rename, not only before).
    Refuse,
}

/// A failed [`write_atomically`]: either the file system refused, or the caller's writer did.
#[derive(Debug)]
pub enum AtomicWriteError<E> {
    /// Creating, syncing or renaming the temporary file failed.
    Io(std::io::Error),
    /// The caller's `write` function failed.
    Content(E),
}

/// Writes `path` through `write`, atomically: the bytes go to a hidden temporary file next to
/// `path` (`.<name, at most 32 characters>.XXXXXX.tmp`), which is flushed, fsynced and renamed over `path` only once
/// `write` succeeded. On any failure the temporary file is removed and `path` is untouched.
/// The new file gets the usual permissions (0o666 less the umask). The parent folder must exist.
pub fn write_atomically<E>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&mut File>) -> Result<(), E>,
) -> Result<(), AtomicWriteError<E>> {
    write_atomically_with(path, Replace::Allow, write)
}

/// [`write_atomically`], told whether an existing file may be replaced.
pub fn write_atomically_with<E>(
    path: &Path,
    replace: Replace,
    write: impl FnOnce(&mut BufWriter<&mut File>) -> Result<(), E>,
) -> Result<(), AtomicWriteError<E>> {
    // Write through a link that leads to a file: replacing the link itself would leave its
    // target unchanged and the link gone.
    let resolved;
    let path = if path.is_symlink() && path.is_file() {
        resolved = std::fs::canonicalize(path).map_err(AtomicWriteError::Io)?;
        resolved.as_path()
    } else {
        path
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A short temporary name: the target's name may already be near the 255-byte limit.
    let short: String = name.chars().take(32).collect();
    let mut tmp = temp_builder(&format!(".{short}."))
        .tempfile_in(dir)
        .map_err(AtomicWriteError::Io)?;
    {
        let mut writer = BufWriter::new(tmp.as_file_mut());
        write(&mut writer).map_err(AtomicWriteError::Content)?;
        writer.flush().map_err(AtomicWriteError::Io)?;
    }
    if let Ok(old) = std::fs::metadata(path) {
        keep_mode_and_owner(tmp.as_file(), &old);
    }
    tmp.as_file().sync_all().map_err(AtomicWriteError::Io)?;
    match replace {
        Replace::Allow => tmp.persist(path).map(|_| ()),
        Replace::Refuse => tmp.persist_noclobber(path).map(|_| ()),
    }
    .map_err(|e| AtomicWriteError::Io(e.error))?;
    sync_dir(dir);
    Ok(())
}

/// Gives the new file the permissions and (where allowed: as root, or the same owner) the owner
/// and group of the file it replaces; a refused `chown` is not an error.
fn keep_mode_and_owner(file: &File, old: &std::fs::Metadata) {
    if let Err(e) = file.set_permissions(old.permissions()) {
        log::debug!("cannot keep the replaced file's permissions: {e}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Err(e) = std::os::unix::fs::fchown(file, Some(old.uid()), Some(old.gid())) {
            log::debug!("cannot keep the replaced file's owner: {e}");
        }
    }
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

    #[cfg(unix)]
    #[test]
    fn a_replaced_file_keeps_its_mode_and_a_link_is_written_through() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret.png");
        std::fs::write(&path, b"old").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        write_bytes_atomically(&path, b"new").expect("write");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let link = dir.path().join("link.png");
        std::os::unix::fs::symlink(&path, &link).expect("symlink");
        write_bytes_atomically(&link, b"through").expect("write");
        assert!(link.is_symlink(), "the link was replaced by a file");
        assert_eq!(std::fs::read(&path).expect("read"), b"through");
    }

    #[test]
    fn refuse_holds_at_the_rename_for_a_file_that_appears_meanwhile() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.png");
        let result = write_atomically_with(&path, Replace::Refuse, |w| {
            // another process writes the output while this one is still encoding
            std::fs::write(&path, b"theirs")?;
            w.write_all(b"ours")
        });
        match result {
            Err(AtomicWriteError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists),
            other => panic!("expected AlreadyExists, got {other:?}"),
        }
        assert_eq!(std::fs::read(&path).expect("read"), b"theirs");
        assert_eq!(entries(dir.path()), vec!["out.png".to_string()]);
        write_atomically_with(&dir.path().join("new.png"), Replace::Refuse, |w| {
            w.write_all(b"x")
        })
        .expect("a new path is written");
    }

    #[test]
    fn a_name_near_the_length_limit_can_be_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(format!("{}.png", "n".repeat(250)));
        write_bytes_atomically(&path, b"long").expect("write");
        assert_eq!(std::fs::read(&path).expect("read"), b"long");
    }
}

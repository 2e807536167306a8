//! The NNEF cache: an ONNX model converted once to tract's NNEF archive, which loads faster.
//!
//! The archive holds the decluttered typed graph (so loading skips parsing, type inference and
//! decluttering; only the CPU-specific optimization remains) as an uncompressed tar (`<stem>.nnef.tar`, next to the ONNX file): fp32 weights
//! barely compress, and skipping inflate keeps kiosk start-up short. The ONNX `metadata_props`
//! travel inside the archive as tract model properties (`onnx.metadata_props.<key>` in the
//! `tract_core_properties` fragment of `graph.nnef`), so no sidecar file can get lost or stale.
//!
//! A cache is used only for the ONNX file it was made from: the archive also carries that file's
//! size and CRC-32 ([`SOURCE_KEY_PROPERTY`]), checked against the ONNX file at every load. File
//! times are not trusted (`cp -p` and `rsync -a` keep an older time on a newer model). The archive
//! also carries a CRC-32 of its own tensor files ([`CONTENT_KEY_PROPERTY`]), checked at every load
//! too: a cache whose weights were altered or damaged (the tar still valid) is never used.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tract_onnx::prelude::*;

use super::load::{load_onnx, nnef_framework, one_line};
use crate::atomic::{write_atomically, AtomicWriteError};
use crate::{Error, Result};

/// File name suffix of NNEF caches.
pub const NNEF_SUFFIX: &str = ".nnef.tar";

/// Model property of a cache naming the ONNX file it was made from: `size=<bytes>;crc32=<hex>`.
pub const SOURCE_KEY_PROPERTY: &str = "daefr.cache.source";

/// Model property of a cache holding the CRC-32 of every archive entry but `graph.nnef` (names
/// and bytes, in archive order): `entries=<n>;crc32=<hex>`.
pub const CONTENT_KEY_PROPERTY: &str = "daefr.cache.content";

/// `graph.nnef` is read up to this size when looking for the source key (ours are ~100 KB).
const MAX_GRAPH_TEXT: u64 = 64 << 20;

/// Where the NNEF cache of an ONNX file lives: `dir/name.onnx` -> `dir/name.nnef.tar`.
pub fn cache_path_for(onnx: &Path) -> PathBuf {
    let stem = onnx.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    onnx.with_file_name(format!("{stem}{NNEF_SUFFIX}"))
}

/// The content key of a file: its size and CRC-32, as stored in [`SOURCE_KEY_PROPERTY`].
pub fn source_key(path: &Path) -> std::io::Result<String> {
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut hasher = crc32fast::Hasher::new();
    let mut size = 0u64;
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        hasher.update(&chunk[..n]);
        size += n as u64;
    }
    Ok(format!("size={size};crc32={:08x}", hasher.finalize()))
}

/// What one pass over a cache archive finds: the keys its `graph.nnef` states and the content
/// key its other entries actually have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveKeys {
    /// [`SOURCE_KEY_PROPERTY`] as stored (`None`: written by an older daefr).
    pub source: Option<String>,
    /// [`CONTENT_KEY_PROPERTY`] as stored (`None`: written by an older daefr).
    pub stored_content: Option<String>,
    /// The content key computed from the archive's tensor entries.
    pub content: String,
}

/// Reads a cache archive once: the stored keys and the actual content key.
pub fn archive_keys(archive: impl Read) -> std::io::Result<ArchiveKeys> {
    let mut archive = tar::Archive::new(archive);
    let (mut source, mut stored_content) = (None, None);
    let mut hasher = crc32fast::Hasher::new();
    let mut entries = 0usize;
    let mut chunk = vec![0u8; 1 << 16];
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        if path == Path::new("graph.nnef") {
            let mut text = String::new();
            (&mut entry)
                .take(MAX_GRAPH_TEXT)
                .read_to_string(&mut text)?;
            source = property_value(&text, SOURCE_KEY_PROPERTY);
            stored_content = property_value(&text, CONTENT_KEY_PROPERTY);
            continue;
        }
        entries += 1;
        hasher.update(path.to_string_lossy().as_bytes());
        hasher.update(&[0]);
        loop {
            let n = entry.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            hasher.update(&chunk[..n]);
        }
    }
    Ok(ArchiveKeys {
        source,
        stored_content,
        content: format!("entries={entries};crc32={:08x}", hasher.finalize()),
    })
}

/// The source key stored in a cache archive. `Ok(None)`: an archive without one (written by an
/// older daefr).
pub fn stored_source_key(cache: &Path) -> std::io::Result<Option<String>> {
    Ok(archive_keys(BufReader::new(File::open(cache)?))?.source)
}

/// The string value of `("key", "value")` in a `graph.nnef` properties list.
fn property_value(graph: &str, key: &str) -> Option<String> {
    let after = &graph[graph.find(&format!("\"{key}\""))? + key.len() + 2..];
    let open = after.find('"')?;
    // Only a comma may sit between the key and its value.
    if after[..open].trim() != "," {
        return None;
    }
    let value = &after[open + 1..];
    Some(value[..value.find('"')?].to_string())
}

/// The cache of `onnx` if it exists and was made from this very ONNX file (same size and CRC-32);
/// a cache made from another file, or without a key, is ignored with a warning.
pub fn fresh_cache_for(onnx: &Path) -> Option<PathBuf> {
    let cache = cache_path_for(onnx);
    if !cache.is_file() {
        return None;
    }
    let reject = |why: String| {
        log::warn!(
            "ignoring NNEF cache {}: {why}; loading {} (`daefr convert` rewrites the cache)",
            cache.display(),
            onnx.display()
        );
        None
    };
    let keys = match File::open(&cache).and_then(|f| archive_keys(BufReader::new(f))) {
        Ok(keys) => keys,
        Err(e) => return reject(format!("cannot read it: {e}")),
    };
    let Some(stored) = keys.source else {
        return reject("it does not say which ONNX file it was made from".into());
    };
    match &keys.stored_content {
        None => return reject("it carries no checksum of its weights (an older daefr wrote it)".into()),
        Some(want) if *want != keys.content => {
            return reject(format!(
                "its weights are not the ones it was written with ({}, stored {want}): damaged or altered",
                keys.content
            ))
        }
        Some(_) => {}
    }
    match source_key(onnx) {
        Ok(key) if key == stored => Some(cache),
        Ok(key) => reject(format!(
            "it was made from another ONNX file ({stored}, this one is {key})"
        )),
        Err(e) => reject(format!("cannot read {}: {e}", onnx.display())),
    }
}

/// Converts an ONNX model to an NNEF archive at `out` (metadata and the ONNX file's content key
/// included); validates the model against the contract first. The write is atomic
/// ([`write_atomically`]): a crash or a full disk never leaves a half-written cache, and an
/// existing one stays as it was.
pub fn write_nnef(onnx: &Path, out: &Path) -> Result<()> {
    let key =
        source_key(onnx).map_err(|source| Error::Io { source }.with_path(onnx.to_path_buf()))?;
    let (mut loaded, _meta) = load_onnx(onnx)?;
    loaded.typed.properties.insert(
        SOURCE_KEY_PROPERTY.to_string(),
        Arc::new(tensor0(key.clone())),
    );
    // The ONNX file must not change between hashing and parsing.
    if source_key(onnx).ok().as_ref() != Some(&key) {
        return Err(Error::ModelLoad {
            message: "the file changed while it was being converted; try again".into(),
        }
        .with_path(onnx.to_path_buf()));
    }
    // Two passes: the tensor entries' checksum goes into graph.nnef, which the checksum skips;
    // the serialization is deterministic, and the written file is checked to be sure.
    let mut first = Vec::new();
    nnef_framework()
        .write_to_tar(&loaded.typed, &mut first)
        .map_err(|e| {
            Error::ModelLoad {
                message: format!("cannot write NNEF: {}", one_line(&e)),
            }
            .with_path(out.to_path_buf())
        })?;
    let content = archive_keys(first.as_slice())
        .map_err(|source| Error::Io { source }.with_path(out.to_path_buf()))?
        .content;
    drop(first);
    loaded.typed.properties.insert(
        CONTENT_KEY_PROPERTY.to_string(),
        Arc::new(tensor0(content.clone())),
    );
    let mut bytes = Vec::new();
    let written = nnef_framework()
        .write_to_tar(&loaded.typed, &mut bytes)
        .map(|_| ())
        .map_err(AtomicWriteError::Content)
        .and_then(|()| match archive_keys(bytes.as_slice()) {
            Ok(keys)
                if keys.content == content && keys.stored_content.as_ref() == Some(&content) =>
            {
                Ok(())
            }
            Ok(_) => Err(AtomicWriteError::Io(std::io::Error::other(
                "the NNEF writer gave different tensor bytes on a second pass",
            ))),
            Err(e) => Err(AtomicWriteError::Io(e)),
        })
        .and_then(|()| {
            write_atomically(out, |w| std::io::Write::write_all(w, &bytes)).map_err(|e| match e {
                AtomicWriteError::Io(e) | AtomicWriteError::Content(e) => AtomicWriteError::Io(e),
            })
        });
    written.map_err(|e| match e {
        AtomicWriteError::Io(source) => Error::Io { source }.with_path(out.to_path_buf()),
        AtomicWriteError::Content(e) => Error::ModelLoad {
            message: format!("cannot write NNEF: {}", one_line(&e)),
        }
        .with_path(out.to_path_buf()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_key_is_found_in_a_properties_list() {
        let graph = "properties = [\n    (\"daefr.cache.source\", \"size=12;crc32=0badf00d\"),\n    (\"tract_nnef_ser_version\", \"0.23.9\")\n  ];";
        assert_eq!(
            property_value(graph, SOURCE_KEY_PROPERTY).as_deref(),
            Some("size=12;crc32=0badf00d")
        );
        assert_eq!(property_value(graph, "daefr.other"), None);
    }

    #[test]
    fn the_source_key_changes_with_the_content_not_the_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.onnx");
        std::fs::write(&path, b"model one").expect("write");
        let one = source_key(&path).expect("key");
        std::fs::write(&path, b"model two").expect("write");
        let two = source_key(&path).expect("key");
        assert_ne!(one, two);
        assert!(two.starts_with("size=9;crc32="), "{two}");
    }
}

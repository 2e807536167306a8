//! What each fuzz target does with its input, shared by the cargo-fuzz targets (fuzz/) and the
//! corpus replay test that runs on stable in every test run (tests/it/fuzz_corpus.rs). Each must
//! return, whatever the bytes: an `Err` is fine, a panic, an abort or a hang is a bug.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

/// Any bytes as an image file (a small pixel limit keeps a run fast; the checks are the same at
/// any limit).
pub fn image_read(data: &[u8]) {
    let _ = daefr::image_io::decode_rgb(data, Path::new("fuzz.img"), 4_000_000);
}

/// Any text as model metadata (`key=value` per line, as `metadata_props`), as a fidelity curve
/// and as a sidecar model description.
pub fn model_metadata(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let props: BTreeMap<String, String> = text
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let path = Path::new("fuzz.onnx");
    let _ = daefr::model::ModelMetadata::from_props(path, props);
    let _ = daefr::model::AutoCurve::parse(text);
    if let Ok(description) = daefr::model::describe::ModelDescription::parse(text, path) {
        if let Ok(props) = description.to_props(path) {
            let _ = daefr::model::ModelMetadata::from_props(path, props);
        }
    }
}

/// Any text as a board profile; what is accepted must convert into the live options.
pub fn profile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = daefr::config::Config::parse(text, Path::new("fuzz.toml")) {
        let _ = daefr::live::LiveOptions::from(&config);
    }
}

/// Any bytes as an NNEF cache archive, through the key and tamper check run before a cache is
/// trusted.
pub fn nnef_cache(data: &[u8]) {
    let _ = daefr::model::cache::archive_keys(data);
}

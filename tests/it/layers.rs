//! The layers only look down (docs/architecture.md): a source file never names a module of a
//! higher layer. Every file under `src/` has a layer here (a new file fails the test until it is
//! given one); every path a file names (`use` trees with braces, `super::` and inline
//! `crate::a::b` paths) is resolved to the file it leads to, whose layer must not be higher.

use std::path::Path;

use crate::util::*;

/// The layers, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Layer {
    /// Geometry, alignment, tracking, scheduling: no tract, no I/O, no configuration.
    Core,
    /// Inference (tract) and I/O (files, camera, display), and the shared error type.
    InferAndIo,
    /// Profiles, the face path over photos and videos, the live loop.
    Application,
    /// The command line.
    Cli,
}

/// Each file's layer, by path under `src/` (a folder entry covers every file in it).
const LAYERS: &[(&str, Layer)] = &[
    ("geometry", Layer::Core),
    ("align", Layer::Core),
    ("track", Layer::Core),
    ("error.rs", Layer::InferAndIo),
    ("model", Layer::InferAndIo),
    ("detect", Layer::InferAndIo),
    ("bundled.rs", Layer::InferAndIo),
    ("tuning.rs", Layer::InferAndIo),
    ("runner.rs", Layer::InferAndIo),
    ("image_io.rs", Layer::InferAndIo),
    ("atomic.rs", Layer::InferAndIo),
    ("capture", Layer::InferAndIo),
    ("display", Layer::InferAndIo),
    ("config", Layer::Application),
    ("photo.rs", Layer::Application),
    ("video.rs", Layer::Application),
    ("live", Layer::Application),
    ("lib.rs", Layer::Application),
    ("cli", Layer::Cli),
    ("main.rs", Layer::Cli),
];

/// External crates and std modules that only inference and I/O may name.
const IO_CRATES: &[&str] = &[
    "tract_onnx",
    "tract_core",
    "tract_nnef",
    "tract_linalg",
    "std::fs",
    "v4l",
];

/// The layer of `relative` (a path under `src/`), from [`LAYERS`].
fn layer_of(relative: &str) -> Option<Layer> {
    LAYERS
        .iter()
        .filter(|(prefix, _)| relative == *prefix || relative.starts_with(&format!("{prefix}/")))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, layer)| *layer)
}

/// Every `.rs` file under `src/`, as paths relative to it.
fn all_sources() -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).expect("under src");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let root = repo("src");
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out.sort();
    out
}

/// The module path of a source file (`track/tracker.rs` -> `track::tracker`,
/// `detect/mod.rs` -> `detect`, `lib.rs` -> the crate root).
fn module_of(relative: &str) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The source file a module path leads to: the longest prefix of `path` that is a file
/// (`a/b.rs` or `a/b/mod.rs`); the crate root (`lib.rs`) when none is.
fn file_of(path: &[String]) -> String {
    for len in (1..=path.len()).rev() {
        let stem = path[..len].join("/");
        for candidate in [format!("{stem}.rs"), format!("{stem}/mod.rs")] {
            if repo("src").join(&candidate).is_file() {
                return candidate;
            }
        }
    }
    "lib.rs".to_string()
}

/// Source text without comments and without its `#[cfg(test)]` module (whose `super` is the file
/// itself, and whose tests may use any layer).
fn code_of(relative: &str) -> String {
    let text = std::fs::read_to_string(repo("src").join(relative)).expect("read source");
    let text = text
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or_default();
    text.lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Splits `text` at the commas that are not inside braces.
fn split_top(text: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0i32, 0usize, Vec::new());
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

/// The full paths of a `use` tree (`crate::{a, b::{c, d}}` -> `crate::a`, `crate::b::c`, ...).
fn expand_use(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or_default().trim();
        return if path.is_empty() {
            vec![]
        } else {
            vec![path.to_string()]
        };
    };
    let prefix = tree[..open].trim_end_matches("::").trim();
    let close = tree.rfind('}').filter(|&c| c > open).unwrap_or(tree.len());
    let inner = &tree[open + 1..close];
    split_top(inner)
        .into_iter()
        .flat_map(expand_use)
        .map(|rest| match (prefix.is_empty(), rest == "self") {
            (true, _) => rest,
            (false, true) => prefix.to_string(),
            (false, false) => format!("{prefix}::{rest}"),
        })
        .collect()
}

/// Every path `code` names: its `use` statements (at the start of a line, `pub` or not), and
/// inline `crate::`/`super::` paths.
fn named_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut statement: Option<String> = None;
    for line in code.lines() {
        let trimmed = line.trim_start();
        if statement.is_none() {
            let rest = ["use ", "pub use ", "pub(crate) use ", "pub(super) use "]
                .iter()
                .find_map(|start| trimmed.strip_prefix(start));
            statement = rest.map(str::to_string);
        } else if let Some(s) = statement.as_mut() {
            s.push(' ');
            s.push_str(trimmed);
        }
        if let Some(s) = statement.take() {
            match s.find(';') {
                Some(end) => paths.extend(expand_use(&s[..end])),
                None => statement = Some(s),
            }
        }
    }
    for root in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(at) = code[from..].find(root) {
            let start = from + at;
            let prefix_char = code[..start].chars().last();
            from = start + root.len();
            if prefix_char.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            let tail: String = code[start..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            paths.push(tail.trim_end_matches(':').to_string());
        }
    }
    paths
}

/// The layer a path named in file `relative` leads to (`None`: an external crate or std that any
/// layer may use).
fn target_layer(relative: &str, path: &str) -> Option<(String, Layer)> {
    if let Some(name) = IO_CRATES
        .iter()
        .find(|c| path == **c || path.starts_with(&format!("{c}::")))
    {
        return Some((name.to_string(), Layer::InferAndIo));
    }
    let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut module: Vec<String> = match segments.first() {
        Some(&"crate") => {
            segments.remove(0);
            Vec::new()
        }
        Some(&"super") | Some(&"self") => module_of(relative),
        _ => return None,
    };
    while let Some(&first) = segments.first() {
        match first {
            "super" => {
                module.pop();
            }
            "self" => {}
            _ => break,
        }
        segments.remove(0);
    }
    if module.is_empty() && segments.is_empty() {
        return None; // `crate` itself, the start of a `use crate::{...}` tree
    }
    if module.is_empty() && matches!(segments.first(), Some(&"Error" | &"Result")) {
        return Some(("error.rs".into(), Layer::InferAndIo)); // re-exported by lib.rs
    }
    module.extend(segments.iter().map(|s| s.to_string()));
    let file = file_of(&module);
    layer_of(&file).map(|layer| (file, layer))
}

/// Every `file names path (layer) from a lower layer` found under `src/`.
fn violations() -> Vec<String> {
    let mut found = Vec::new();
    for file in all_sources() {
        let own = layer_of(&file).expect("checked by every_file_has_a_layer");
        for path in named_paths(&code_of(&file)) {
            if let Some((target, layer)) = target_layer(&file, &path) {
                if layer > own {
                    found.push(format!(
                        "{file} ({own:?}) names {path}: {target} ({layer:?})"
                    ));
                }
            }
        }
    }
    found
}

#[test]
fn every_file_has_a_layer() {
    let missing: Vec<String> = all_sources()
        .into_iter()
        .filter(|f| layer_of(f).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "give these files a layer in LAYERS: {missing:?}"
    );
}

#[test]
fn no_file_names_a_higher_layer() {
    let found = violations();
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn use_trees_and_relative_paths_are_resolved() {
    let paths = named_paths("use crate::{photo, detect::{Face, nms::weighted_nms}};\nlet x = super::live::run();\nuse tract_onnx::prelude::*;");
    assert!(paths.contains(&"crate::photo".to_string()), "{paths:?}");
    assert!(
        paths.contains(&"crate::detect::nms::weighted_nms".to_string()),
        "{paths:?}"
    );
    assert!(paths.contains(&"super::live::run".to_string()), "{paths:?}");
    // a core file naming the whole-photo path, the live loop or tract is caught
    let core = "track/tracker.rs";
    assert_eq!(
        target_layer(core, "crate::photo").map(|t| t.1),
        Some(Layer::Application)
    );
    assert_eq!(
        target_layer(core, "crate::live::run_live").map(|t| t.1),
        Some(Layer::Application)
    );
    assert_eq!(
        target_layer("live/run.rs", "super::stages::FaceRestorer").map(|t| t.0),
        Some("live/stages.rs".to_string())
    );
    assert_eq!(
        target_layer(core, "super::smoothing::OneEuro").map(|t| t.1),
        Some(Layer::Core)
    );
    assert_eq!(
        target_layer(core, "tract_onnx::prelude").map(|t| t.1),
        Some(Layer::InferAndIo)
    );
    assert_eq!(target_layer(core, "image::RgbImage"), None);
    assert_eq!(
        target_layer("geometry/nms.rs", "crate::geometry::Face").map(|t| t.0),
        Some("geometry/mod.rs".to_string())
    );
}

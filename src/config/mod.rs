//! Board profiles for the live mode (`daefr run --config firmware-config/<board>.toml`).
//!
//! Every section rejects unknown fields, so a typo in a profile fails at start-up with the file, the
//! line, the field and the allowed names, instead of being silently ignored on a kiosk for months.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::live::{LiveOptions, OverlayFlags, RetryPolicy};
use crate::model::fidelity::is_unit_weight;
use crate::model::Fidelity;
use crate::track::TrackerConfig;

mod convert;
mod display;
pub mod edit;

/// A failure to read or validate a profile. Messages name the file, the field and what is allowed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The profile could not be read.
    #[error("{path}: cannot read config: {source}")]
    Read {
        /// The profile.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The profile could not be written (full disk, read-only folder).
    #[error("{path}: cannot write config: {source}")]
    Write {
        /// The profile.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The profile is not valid TOML or does not match the schema (unknown field, wrong type).
    #[error("{path}: {message}")]
    Parse {
        /// The profile.
        path: PathBuf,
        /// toml's message: line, column, field and the allowed names or type.
        message: String,
    },
    /// A field has a value the live mode cannot use.
    #[error("{path}: field `{field}`: {problem}")]
    Invalid {
        /// The profile.
        path: PathBuf,
        /// Dotted field name, e.g. `source.fps`.
        field: &'static str,
        /// What is wrong and what is allowed.
        problem: String,
    },
}

/// A whole board profile.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where frames come from.
    pub source: SourceConfig,
    /// Which model files to load and how to run them.
    #[serde(default)]
    pub model: ModelConfig,
    /// Tracking and restore scheduling.
    #[serde(default)]
    pub pipeline: PipelineConfig,
    /// Where frames go.
    #[serde(default)]
    pub display: DisplayConfig,
    /// What is drawn over the frame.
    #[serde(default)]
    pub overlay: OverlayConfig,
    /// Camera retry policy.
    #[serde(default)]
    pub faults: FaultConfig,
}

/// Kind of frame source.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// A V4L2 camera (needs the `camera` cargo feature).
    Camera,
    /// A directory of PNG/JPEG images, played in name order and looped.
    Directory,
    /// A Y4M video file, looped.
    Video,
    /// Moving, scaled, noisy and blurred copies of the bundled face image.
    Synthetic,
}

/// Pixel format requested from a V4L2 camera.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CameraFormat {
    /// Packed 4:2:2 YUV (every UVC camera has it; USB bandwidth limits it at high resolutions).
    Yuyv,
    /// Motion JPEG, decoded on the CPU.
    #[default]
    Mjpeg,
}

/// `[source]`: where frames come from.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// camera | directory | video | synthetic.
    pub kind: SourceKind,
    /// Camera device (`/dev/video0`), image directory or Y4M file.
    pub path: Option<PathBuf>,
    /// Frame width in pixels (camera request, synthetic size, resize target for files).
    #[serde(default = "default_width")]
    pub width: u32,
    /// Frame height in pixels.
    #[serde(default = "default_height")]
    pub height: u32,
    /// Frames per second (camera request; pace of file and synthetic sources).
    #[serde(default = "default_fps")]
    pub fps: f32,
    /// Camera pixel format.
    #[serde(default)]
    pub format: CameraFormat,
    /// File and synthetic sources: wait between frames to keep `fps` (false: as fast as possible).
    #[serde(default = "yes")]
    pub realtime: bool,
    /// Synthetic source: number of faces (1..=8).
    #[serde(default = "one")]
    pub faces: u32,
    /// Synthetic source: seed of its noise and motion.
    #[serde(default)]
    pub seed: u64,
}

/// `[model]`: which networks to load.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Restoration model (ONNX); default: the bundled model.
    pub restorer: Option<PathBuf>,
    /// Face detector (BlazeFace ONNX); default: the bundled detector.
    pub detector: Option<PathBuf>,
    /// Matrix-kernel threads tract may use for one inference (0: unset, which means one thread
    /// unless `--threads` says otherwise).
    #[serde(default)]
    pub threads: u32,
    /// Restore worker threads (1..=4), each with its own run state over one shared, optimized
    /// plan (the weights are loaded once).
    #[serde(default = "one")]
    pub restore_workers: u32,
    /// Minimum detector score for a face (default 0.6 in a profile; `restore` without a profile
    /// uses 0.5, or `--min-score`).
    #[serde(default = "default_min_score")]
    pub min_score: f32,
    /// Fidelity of a version-2 model: a weight in `0.0..=1.0` (0: pure DAEFR codes, 1: closest
    /// to the camera's face) or `"auto"` (per face, from the model's `daefr.fidelity_auto`);
    /// absent: `auto` where the model has that curve, else its `daefr.fidelity_default`.
    #[serde(default)]
    pub fidelity: Option<Fidelity>,
}

/// `[pipeline]`: tracking and scheduling. A field left out takes [`PipelineConfig::default`]'s
/// value: the live loop's and the tracker's own defaults.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// At most this many faces per frame are restored and shown restored; the biggest first.
    pub max_faces: u32,
    /// Minimum IoU between a detection and a track's box to be the same face.
    pub match_iou: f32,
    /// Frames a track survives without a matching detection.
    pub max_missed: u32,
    /// Keypoint smoothing (One-Euro filter) minimum cutoff in Hz: lower = steadier, more lag.
    pub smooth_min_cutoff_hz: f32,
    /// Keypoint smoothing speed coefficient: higher = less lag on fast motion.
    pub smooth_beta: f32,
}

/// Kind of display sink.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DisplayKind {
    /// Linux framebuffer (`/dev/fb0`), RGB565 or XRGB8888.
    Framebuffer,
    /// A desktop window (needs the `simulator` cargo feature and SDL2).
    Window,
    /// No screen: PNG snapshots every `png_every` frames into `png_dir`.
    Png,
    /// No screen and no files: frames are counted only.
    None,
}

/// What to do when the configured display cannot be opened.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OnMissingDisplay {
    /// Warn and run headless (PNG snapshots if `png_dir` is set, else count only).
    #[default]
    Headless,
    /// Stop with an error.
    Exit,
}

/// `[display]`: where frames go.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DisplayConfig {
    /// framebuffer | window | png | none.
    #[serde(default = "default_display_kind")]
    pub kind: DisplayKind,
    /// Framebuffer device.
    #[serde(default = "default_fb")]
    pub device: PathBuf,
    /// Directory for PNG snapshots (kind = png, or the headless fallback).
    pub png_dir: Option<PathBuf>,
    /// Write one PNG every this many shown frames.
    #[serde(default = "default_png_every")]
    pub png_every: u32,
    /// Keep at most this many snapshots in `png_dir` (1..=1000000): the oldest is deleted when a
    /// new one is written, so a kiosk that runs for months cannot fill its disk.
    #[serde(default = "default_png_keep")]
    pub png_keep: u32,
    /// headless | exit, when the display cannot be opened.
    #[serde(default)]
    pub on_missing: OnMissingDisplay,
}

/// `[overlay]`: what is drawn over the frame. A field left out takes the live loop's default
/// ([`OverlayFlags::default`]).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct OverlayConfig {
    /// Frames per second, top left.
    pub fps: bool,
    /// Per-stage milliseconds (detect, restore, display) and latency.
    pub timings: bool,
    /// Boxes around tracked faces (green: restored, yellow: waiting).
    pub face_boxes: bool,
    /// Left half before restoration, right half after.
    pub split_view: bool,
}

/// `[faults]`: camera retry policy. A field left out takes the live loop's default
/// ([`RetryPolicy::default`]).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct FaultConfig {
    /// First wait after a camera error, in milliseconds.
    pub retry_initial_ms: u64,
    /// Longest wait between reconnect attempts, in milliseconds (the wait doubles up to this).
    pub retry_max_ms: u64,
}

fn default_width() -> u32 {
    640
}
fn default_height() -> u32 {
    480
}
/// Lowest `source.fps` a profile may ask for: one frame per 100 s. Lower rates only wait (1e-12
/// fps is one frame in 31,700 years), and a rate near zero overflows the pacer's clock.
pub const MIN_FPS: f32 = 0.01;

fn default_fps() -> f32 {
    30.0
}
fn yes() -> bool {
    true
}
fn one() -> u32 {
    1
}
fn default_min_score() -> f32 {
    0.6
}
fn default_display_kind() -> DisplayKind {
    DisplayKind::Framebuffer
}
fn default_fb() -> PathBuf {
    PathBuf::from("/dev/fb0")
}
fn default_png_every() -> u32 {
    30
}
/// Snapshots kept by default: at the headless demo's rate (one per second) the last ~2 minutes.
pub const DEFAULT_PNG_KEEP: u32 = 120;
fn default_png_keep() -> u32 {
    DEFAULT_PNG_KEEP
}
impl Default for PipelineConfig {
    /// The live loop's face limit and the tracker's own defaults (stated there, once).
    fn default() -> Self {
        let tracking = TrackerConfig::default();
        Self {
            max_faces: LiveOptions::default().max_faces as u32,
            match_iou: tracking.match_iou,
            max_missed: tracking.max_missed,
            smooth_min_cutoff_hz: tracking.min_cutoff_hz,
            smooth_beta: tracking.beta,
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            restorer: None,
            detector: None,
            threads: 0,
            restore_workers: one(),
            min_score: default_min_score(),
            fidelity: None,
        }
    }
}

impl Default for DisplayConfig {
    fn default() -> Self {
        Self {
            kind: default_display_kind(),
            device: default_fb(),
            png_dir: None,
            png_every: default_png_every(),
            png_keep: default_png_keep(),
            on_missing: OnMissingDisplay::default(),
        }
    }
}

impl Default for OverlayConfig {
    fn default() -> Self {
        let flags = OverlayFlags::default();
        Self {
            fps: flags.fps,
            timings: flags.timings,
            face_boxes: flags.face_boxes,
            split_view: flags.split_view,
        }
    }
}

impl Default for FaultConfig {
    fn default() -> Self {
        let retry = RetryPolicy::default();
        Self {
            retry_initial_ms: retry.initial.as_millis() as u64,
            retry_max_ms: retry.max.as_millis() as u64,
        }
    }
}

impl Config {
    /// Reads, parses and validates a profile. Relative paths inside it stay relative to the
    /// working directory (profiles are run from the repository or install root).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and validates profile text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    /// Checks value ranges and cross-field rules that the schema alone cannot express.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        self.source
            .check()
            .and_then(|()| self.model.check())
            .and_then(|()| self.pipeline.check())
            .and_then(|()| self.display.check())
            .and_then(|()| self.faults.check())
            .map_err(|Problem(field, problem)| ConfigError::Invalid {
                path: path.to_path_buf(),
                field,
                problem,
            })
    }
}

/// What is wrong with one field: its dotted name and the problem (becomes
/// [`ConfigError::Invalid`] with the profile's path).
struct Problem(&'static str, String);

/// `Ok` when `ok`, else `field`'s `problem`.
fn require(ok: bool, field: &'static str, problem: impl FnOnce() -> String) -> Result<(), Problem> {
    if ok {
        Ok(())
    } else {
        Err(Problem(field, problem()))
    }
}

/// `value` within `lo..=hi`, else "VALUE is out of range; allowed LO..=HI".
fn in_range<T: PartialOrd + std::fmt::Display>(
    field: &'static str,
    value: T,
    lo: T,
    hi: T,
) -> Result<(), Problem> {
    require(value >= lo && value <= hi, field, || {
        format!("{value} is out of range; allowed {lo}..={hi}")
    })
}

/// A weight or score in `0.0..=1.0` ([`is_unit_weight`]).
fn unit(field: &'static str, value: f32) -> Result<(), Problem> {
    require(is_unit_weight(value), field, || {
        format!("{value} is out of range; allowed 0.0..=1.0")
    })
}

impl SourceConfig {
    fn check(&self) -> Result<(), Problem> {
        in_range("source.width", self.width, 16, 7680)?;
        in_range("source.height", self.height, 16, 4320)?;
        require(
            self.fps.is_finite() && (MIN_FPS..=240.0).contains(&self.fps),
            "source.fps",
            || format!("{} is out of range; allowed {MIN_FPS}..=240", self.fps),
        )?;
        match self.kind {
            SourceKind::Directory | SourceKind::Video => {
                require(self.path.is_some(), "source.path", || {
                    "is required for kind = \"directory\" and kind = \"video\"".into()
                })
            }
            SourceKind::Synthetic => in_range("source.faces", self.faces, 1, 8),
            _ => Ok(()),
        }
    }
}

impl ModelConfig {
    fn check(&self) -> Result<(), Problem> {
        in_range("model.restore_workers", self.restore_workers, 1, 4)?;
        in_range("model.threads", self.threads, 0, 64)?;
        if let Some(Fidelity::Weight(w)) = self.fidelity {
            unit("model.fidelity", w)?;
        }
        unit("model.min_score", self.min_score)
    }
}

impl PipelineConfig {
    fn check(&self) -> Result<(), Problem> {
        in_range("pipeline.max_faces", self.max_faces, 0, 16)?;
        require(
            self.match_iou > 0.0 && self.match_iou < 1.0,
            "pipeline.match_iou",
            || {
                format!(
                    "{} is out of range; allowed > 0.0 and < 1.0",
                    self.match_iou
                )
            },
        )?;
        require(
            self.smooth_min_cutoff_hz.is_finite() && self.smooth_min_cutoff_hz > 0.0,
            "pipeline.smooth_min_cutoff_hz",
            || format!("{} must be > 0", self.smooth_min_cutoff_hz),
        )?;
        require(
            self.smooth_beta.is_finite() && self.smooth_beta >= 0.0,
            "pipeline.smooth_beta",
            || format!("{} must be >= 0", self.smooth_beta),
        )
    }
}

impl DisplayConfig {
    fn check(&self) -> Result<(), Problem> {
        require(
            self.kind != DisplayKind::Png || self.png_dir.is_some(),
            "display.png_dir",
            || "is required for kind = \"png\"".into(),
        )?;
        require(self.png_every >= 1, "display.png_every", || {
            "0 is out of range; allowed >= 1".into()
        })?;
        in_range("display.png_keep", self.png_keep, 1, 1_000_000)
    }
}

impl FaultConfig {
    fn check(&self) -> Result<(), Problem> {
        require(
            self.retry_initial_ms >= 1 && self.retry_max_ms >= self.retry_initial_ms,
            "faults.retry_max_ms",
            || {
                format!(
                    "retry_initial_ms ({}) must be >= 1 and <= retry_max_ms ({})",
                    self.retry_initial_ms, self.retry_max_ms
                )
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("board.toml"))
    }

    #[test]
    fn minimal_profile_gets_defaults() {
        let c = parse("[source]\nkind = \"synthetic\"\n").unwrap();
        assert_eq!(c.source.width, 640);
        assert_eq!(c.pipeline.max_faces, 3);
        assert_eq!(c.display.kind, DisplayKind::Framebuffer);
        assert!(c.overlay.fps);
        assert_eq!(c.model, ModelConfig::default());
        assert_eq!(c.model.restore_workers, 1);
    }

    #[test]
    fn unknown_field_names_file_field_and_allowed() {
        let e = parse("[source]\nkind = \"synthetic\"\nfsp = 30\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("board.toml"), "{e}");
        assert!(e.contains("fsp"), "{e}");
        assert!(e.contains("fps"), "{e}");
    }

    #[test]
    fn bad_enum_lists_allowed_values() {
        let e = parse("[source]\nkind = \"webcam\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("webcam") && e.contains("camera") && e.contains("synthetic"),
            "{e}"
        );
    }

    #[test]
    fn range_errors_name_the_field() {
        let e = parse("[source]\nkind = \"synthetic\"\nfps = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("source.fps") && e.contains("allowed"), "{e}");
        // a rate so low that one frame's wait overflows the clock, or lasts for years
        for fps in ["1e-30", "1e-12", "0.001"] {
            let e = parse(&format!("[source]\nkind = \"synthetic\"\nfps = {fps}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("source.fps") && e.contains("0.01"), "{fps}: {e}");
        }
        assert!(parse("[source]\nkind = \"synthetic\"\nfps = 0.01\n").is_ok());
        let e = parse("[source]\nkind = \"directory\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("source.path"), "{e}");
    }
}

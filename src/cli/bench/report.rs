//! What `daefr bench` prints: the per-stage table (or one JSON object) from the timed samples,
//! and the machine it ran on.

use std::path::Path;
use std::time::Duration;

use super::Samples;

/// Everything `daefr bench` prints.
pub(super) struct Report<'a> {
    pub(super) profile: Option<&'a Path>,
    pub(super) model: &'a Path,
    pub(super) model_format: String,
    pub(super) detector: &'a Path,
    pub(super) frame: (u32, u32),
    pub(super) frame_source: String,
    pub(super) preprocess: String,
    pub(super) threads: usize,
    pub(super) load_restorer: Duration,
    pub(super) load_detector: Duration,
    pub(super) times: Samples,
}

/// Median of `values` in milliseconds (0 for none).
fn median_ms(values: &[Duration]) -> f64 {
    let mut ms: Vec<f64> = values.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    match ms.len() {
        0 => 0.0,
        n if n % 2 == 1 => ms[n / 2],
        n => (ms[n / 2 - 1] + ms[n / 2]) / 2.0,
    }
}

impl Report<'_> {
    /// Faces restored per frame (median over iterations).
    pub(super) fn faces(&self) -> usize {
        let mut faces = self.times.faces.clone();
        faces.sort_unstable();
        faces.get(faces.len() / 2).copied().unwrap_or(0)
    }

    fn stages(&self) -> [(&'static str, f64); 6] {
        let t = &self.times;
        [
            ("preprocess", median_ms(&t.preprocess)),
            ("detect", median_ms(&t.detect)),
            ("align", median_ms(&t.align)),
            ("restore", median_ms(&t.restore)),
            ("paste", median_ms(&t.paste)),
            ("total", median_ms(&t.total)),
        ]
    }

    /// Frames/s and faces/s of the sequential pipeline, and faces/s of the restorer alone.
    fn rates(&self) -> (f64, f64, f64) {
        let total = median_ms(&self.times.total);
        let restore = median_ms(&self.times.restore);
        let faces = self.faces() as f64;
        let per_s = |ms: f64, n: f64| if ms > 0.0 { n * 1e3 / ms } else { 0.0 };
        (
            per_s(total, 1.0),
            per_s(total, faces),
            per_s(restore, faces),
        )
    }

    /// The table printed by default.
    pub(super) fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let faces = self.faces();
        let (fps, faces_per_s, restore_faces_per_s) = self.rates();
        let _ = writeln!(s, "machine:   {}", machine_description());
        if let Some(p) = self.profile {
            let _ = writeln!(s, "profile:   {}", p.display());
        }
        let _ = writeln!(
            s,
            "restorer:  {} ({})",
            self.model.display(),
            self.model_format
        );
        let _ = writeln!(s, "detector:  {}", self.detector.display());
        let _ = writeln!(
            s,
            "frame:     {}x{} ({}), {} face(s) restored per frame",
            self.frame.0, self.frame.1, self.frame_source, faces
        );
        let _ = writeln!(
            s,
            "threads:   {} (tract matmul threads per plan), {} timed iterations, medians",
            self.threads,
            self.times.total.len()
        );
        let _ = writeln!(s);
        let _ = writeln!(s, "{:<34} {:>10} {:>12}", "stage", "ms/frame", "ms/face");
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let _ = writeln!(
            s,
            "{:<34} {:>10.1}",
            "load restorer (once)",
            ms(self.load_restorer)
        );
        let _ = writeln!(
            s,
            "{:<34} {:>10.1}",
            "load detector (once)",
            ms(self.load_detector)
        );
        for (name, value) in self.stages() {
            let label = match name {
                "preprocess" => format!("preprocess ({})", self.preprocess),
                "total" => "total (sequential)".to_string(),
                other => other.to_string(),
            };
            let per_face = matches!(name, "align" | "restore" | "paste") && faces > 0;
            if per_face {
                let _ = writeln!(
                    s,
                    "{label:<34} {value:>10.2} {:>12.2}",
                    value / faces as f64
                );
            } else {
                let _ = writeln!(s, "{label:<34} {value:>10.2}");
            }
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{fps:.2} frames/s, {faces_per_s:.2} faces/s end to end; restorer alone \
             {restore_faces_per_s:.2} faces/s per worker"
        );
        s
    }

    /// The one JSON object of `--json`.
    pub(super) fn json(&self) -> String {
        let (fps, faces_per_s, restore_faces_per_s) = self.rates();
        let mut stages = serde_json::Map::new();
        for (name, value) in self.stages() {
            stages.insert(format!("{name}_ms"), serde_json::json!(value));
        }
        serde_json::json!({
            "machine": machine_description(),
            "profile": self.profile.map(|p| p.display().to_string()),
            "restorer": self.model.display().to_string(),
            "restorer_format": self.model_format,
            "detector": self.detector.display().to_string(),
            "frame": [self.frame.0, self.frame.1],
            "frame_source": self.frame_source,
            "preprocess": self.preprocess,
            "threads": self.threads,
            "iters": self.times.total.len(),
            "faces_per_frame": self.faces(),
            "load_restorer_ms": self.load_restorer.as_secs_f64() * 1e3,
            "load_detector_ms": self.load_detector.as_secs_f64() * 1e3,
            "median": stages,
            "frames_per_s": fps,
            "faces_per_s": faces_per_s,
            "restore_faces_per_s": restore_faces_per_s,
        })
        .to_string()
    }
}

/// Board or CPU name and core count, for the report (device tree model on a Pi or Jetson,
/// `model name` from /proc/cpuinfo elsewhere).
fn machine_description() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let device_tree = std::fs::read_to_string("/proc/device-tree/model")
        .ok()
        .map(|m| m.trim_end_matches('\0').trim().to_string());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name") || l.starts_with("Model"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        });
    let name = device_tree.or(cpu).unwrap_or_else(|| "unknown".to_string());
    format!("{name} ({}, {cores} cores)", std::env::consts::ARCH)
}

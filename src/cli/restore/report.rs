//! What `restore` says about each photo: one line on the terminal, and with `--json` one entry of
//! a report (faces with box, score, keypoints and outcome; milliseconds per stage).

use std::path::{Path, PathBuf};
use std::time::Duration;

use daefr::atomic::{write_atomically_with, AtomicWriteError, Replace};
use daefr::detect::Face;
use daefr::photo::{FaceOutcome, StageTimes};
use serde_json::{json, Value};

use super::jobs::Job;

/// What was done to one whole photo.
#[derive(Debug, Clone)]
pub(super) struct PhotoReport {
    /// Width and height of the photo.
    pub size: (u32, u32),
    /// Every detected face with its outcome, best score first.
    pub faces: Vec<(Face, FaceOutcome)>,
    /// Detect, align, restore and paste times.
    pub times: StageTimes,
    /// Reading and decoding the file.
    pub decode: Duration,
    /// Encoding and writing the output (and the side-by-side).
    pub encode: Duration,
    /// Nothing changed: the input was copied byte for byte.
    pub copied: bool,
}

impl PhotoReport {
    /// Faces restored.
    pub fn restored(&self) -> usize {
        self.count(FaceOutcome::Restored)
    }

    fn count(&self, outcome: FaceOutcome) -> usize {
        self.faces.iter().filter(|(_, o)| *o == outcome).count()
    }

    /// The photo's lines on stderr (left out with `-q`): a warning without a face, then the
    /// counts with why the other faces were left alone.
    pub fn print(&self, job: &Job, min_face: f32) {
        if self.faces.is_empty() {
            crate::note!(
                "daefr: warning: {}: no face found; written unchanged",
                job.input.display()
            );
        }
        let why: Vec<String> = [
            FaceOutcome::TooSmall,
            FaceOutcome::Unalignable,
            FaceOutcome::OverLimit,
            FaceOutcome::NotSelected,
        ]
        .into_iter()
        .filter_map(|outcome| {
            let n = self.count(outcome);
            (n > 0).then(|| format!("{n} {}", reason(outcome, min_face)))
        })
        .collect();
        let why = if why.is_empty() {
            String::new()
        } else {
            format!(" ({})", why.join(", "))
        };
        crate::note!(
            "{}: {} face(s) found, {} restored{why} -> {}",
            job.input.display(),
            self.faces.len(),
            self.restored(),
            job.output.display()
        );
    }

    /// This photo's `--json` entry.
    pub fn json(&self, job: &Job, min_face: f32) -> Value {
        let faces: Vec<Value> = self
            .faces
            .iter()
            .enumerate()
            .map(|(index, (face, outcome))| {
                let mut entry = json!({
                    "index": index,
                    "bbox": face.bbox,
                    "score": face.score,
                    "keypoints": face.keypoints,
                    "outcome": outcome.name(),
                });
                if *outcome != FaceOutcome::Restored {
                    entry["reason"] = json!(reason(*outcome, min_face));
                }
                entry
            })
            .collect();
        let t = &self.times;
        json!({
            "input": job.input,
            "output": job.output,
            "compare": job.compare,
            "status": if self.copied { "unchanged" } else { "written" },
            "width": self.size.0,
            "height": self.size.1,
            "faces": faces,
            "restored": self.restored(),
            "ms": {
                "decode": ms(self.decode),
                "detect": ms(t.detect),
                "align": ms(t.align),
                "restore": ms(t.restore),
                "paste": ms(t.paste),
                "encode": ms(self.encode),
            },
        })
    }
}

/// Why a face with this outcome was left alone, in words.
fn reason(outcome: FaceOutcome, min_face: f32) -> String {
    match outcome {
        FaceOutcome::Restored => "restored".into(),
        FaceOutcome::TooSmall => format!("narrower than --min-face {min_face} px"),
        FaceOutcome::Unalignable => "not alignable".into(),
        FaceOutcome::OverLimit => "over the face limit".into(),
        FaceOutcome::NotSelected => "not picked by --only".into(),
    }
}

/// Milliseconds, rounded to microseconds.
fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// The `--json` entry of an aligned crop restored in `elapsed`.
pub(super) fn crop_json(job: &Job, elapsed: Duration) -> Value {
    json!({
        "input": job.input,
        "output": job.output,
        "compare": job.compare,
        "status": "written",
        "ms": { "total": ms(elapsed) },
    })
}

/// The `--json` entry of a file that failed.
pub(super) fn failed_json(job: &Job, error: &anyhow::Error) -> Value {
    json!({
        "input": job.input,
        "output": job.output,
        "status": "failed",
        "error": super::super::one_line(error),
    })
}

/// The `--json` report: its destination and the entries gathered so far.
#[derive(Debug)]
pub(super) struct JsonReport {
    path: PathBuf,
    replace: Replace,
    entries: Vec<Value>,
}

impl JsonReport {
    /// A report for `path` (`-`: standard output), refusing now, before any work, an existing
    /// file unless `replace` allows it.
    pub fn create(path: &Path, replace: Replace) -> anyhow::Result<JsonReport> {
        if path != Path::new("-") && replace == Replace::Refuse && path.exists() {
            anyhow::bail!(
                "{}: --json report already exists; pass --force to overwrite it",
                path.display()
            );
        }
        Ok(JsonReport {
            path: path.to_path_buf(),
            replace,
            entries: Vec::new(),
        })
    }

    /// Adds one file's entry.
    pub fn push(&mut self, entry: Value) {
        self.entries.push(entry);
    }

    /// Writes the report (atomically for a file) with `model` named at its top.
    pub fn write(self, model: &Path) -> anyhow::Result<()> {
        let report = json!({ "model": model, "photos": self.entries });
        let text = serde_json::to_string_pretty(&report)? + "\n";
        if self.path == Path::new("-") {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
            return Ok(());
        }
        write_atomically_with(&self.path, self.replace, |w| {
            std::io::Write::write_all(w, text.as_bytes())
        })
        .map_err(|e| match e {
            AtomicWriteError::Io(e) | AtomicWriteError::Content(e) => anyhow::Error::new(e)
                .context(format!(
                    "{}: cannot write the --json report",
                    self.path.display()
                )),
        })
    }
}

//! [`Restorer`]: one optimized tract plan, loaded once and reused for every face.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use image::RgbImage;
use tract_onnx::prelude::*;

use super::cache::fresh_cache_for;
use super::fidelity::{sharpness, AutoCurve, Fidelity, KEY_FIDELITY_AUTO};
use super::load::{format_of, load_any, load_onnx, one_line, ModelFormat};
use super::metadata::ModelMetadata;
use super::tensor_io::{image_to_planes, planes_to_image};
use crate::geometry::Template;
use crate::runner::PlanRunner;
use crate::{Error, Result};

/// How to load a model.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Threads for tract's matrix kernels; `None` or `Some(1)` runs single-threaded.
    pub threads: Option<usize>,
    /// For an `.onnx` path, load its NNEF cache (`<stem>.nnef.tar`) instead when one exists and
    /// was made from this very file (its stored size and CRC-32 match; its tensors' checksum is
    /// verified too). Not for a model described by a sidecar TOML.
    pub use_cache: bool,
    /// Fidelity of a version-2 model: a weight `w` in `[0, 1]` (0: pure DAEFR code path,
    /// 1: closest to the input) or [`Fidelity::Auto`] (per face, from the model's
    /// `daefr.fidelity_auto` curve). `None`: `auto` when the model has that curve, else its
    /// `daefr.fidelity_default`. A version-1 model has no such input: a fidelity given for one is
    /// ignored with a warning.
    pub fidelity: Option<Fidelity>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            threads: None,
            use_cache: true,
            fidelity: None,
        }
    }
}

/// Checks a fidelity weight: finite and within `[0, 1]`.
pub fn check_fidelity(w: f32) -> Result<f32> {
    if super::fidelity::is_unit_weight(w) {
        Ok(w)
    } else {
        Err(Error::FidelityOutOfRange { value: w })
    }
}

/// The fidelity a restorer runs at: what was asked for, else `auto` where the model has a curve,
/// else the model's default weight; `None` for a version-1 model (with a warning if one was asked
/// for). `auto` asked of a model without a curve falls back to its default weight, with a warning.
fn resolve_fidelity(
    meta: &ModelMetadata,
    asked: Option<Fidelity>,
    source: &Path,
) -> Option<Fidelity> {
    let Some(default) = meta.fidelity_default else {
        if let Some(f) = asked {
            log::warn!(
                "{}: a contract-version-{} model has no fidelity input; fidelity {f} is ignored",
                source.display(),
                meta.format_version
            );
        }
        return None;
    };
    match (asked, &meta.fidelity_auto) {
        (Some(Fidelity::Weight(w)), _) => Some(Fidelity::Weight(w)),
        (Some(Fidelity::Auto) | None, Some(_)) => Some(Fidelity::Auto),
        (Some(Fidelity::Auto), None) => {
            log::warn!(
                "{}: the model has no {KEY_FIDELITY_AUTO} curve; fidelity auto uses its default weight {default}",
                source.display()
            );
            Some(Fidelity::Weight(default))
        }
        (None, None) => Some(Fidelity::Weight(default)),
    }
}

/// A loaded DAEFR model ready to restore aligned face crops. `Send`; `restore` takes `&self`
/// (calls from several threads are serialised on the one internal state).
pub struct Restorer {
    path: PathBuf,
    format: ModelFormat,
    meta: ModelMetadata,
    runner: PlanRunner,
    load_time: Duration,
    fidelity: Option<Fidelity>,
}

impl std::fmt::Debug for Restorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Restorer")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("input_size", &self.meta.input_size)
            .finish()
    }
}

impl Restorer {
    /// Loads a model (ONNX, or its NNEF cache when `opts.use_cache`), checks it against the
    /// contract, and optimizes it once for this CPU.
    pub fn load(path: &Path, opts: &LoadOptions) -> Result<Restorer> {
        let start = Instant::now();
        if let Some(Fidelity::Weight(w)) = opts.fidelity {
            check_fidelity(w)?;
        }
        // A described model's cache would not see its sidecar change: it is read from the files.
        let described = super::describe::sidecar_path(path).is_file();
        let cached = match (format_of(path), opts.use_cache && !described) {
            (ModelFormat::Onnx, true) => fresh_cache_for(path),
            _ => None,
        };
        let (loaded, meta) = match cached {
            Some(cache) => match load_any(&cache) {
                Ok(found) => found,
                Err(e) => {
                    log::warn!("ignoring NNEF cache: {e}");
                    load_onnx(path)?
                }
            },
            None => load_any(path)?,
        };
        let source = loaded.path.clone();
        let optimize_start = Instant::now();
        let runner = PlanRunner::new(loaded.typed, opts.threads).map_err(|e| {
            Error::ModelLoad {
                message: format!("cannot optimize graph: {}", one_line(&e)),
            }
            .with_path(source.clone())
        })?;
        log::info!(
            "loaded {} ({}): read {:?}, optimize {:?}",
            source.display(),
            loaded.format,
            loaded.load_time,
            optimize_start.elapsed()
        );
        let fidelity = resolve_fidelity(&meta, opts.fidelity, &source);
        Ok(Restorer {
            path: source,
            format: loaded.format,
            meta,
            runner,
            load_time: start.elapsed(),
            fidelity,
        })
    }

    /// Another restorer over this one's optimized plan, with a run state of its own: for a
    /// second worker. The plan and its weights are shared, not read and optimized again, so a
    /// worker made this way costs its activations only (measured in BENCHMARKS.md, "Shared
    /// plans"). Same model, options and fidelity weight.
    pub fn another(&self) -> Restorer {
        Restorer {
            path: self.path.clone(),
            format: self.format,
            meta: self.meta.clone(),
            runner: self.runner.another(),
            load_time: Duration::ZERO,
            fidelity: self.fidelity,
        }
    }

    /// This restorer and `workers - 1` others over its plan ([`Restorer::another`]): one per
    /// worker, at least one, this one first.
    pub fn with_others(self, workers: usize) -> Vec<Restorer> {
        let mut all: Vec<Restorer> = (1..workers.max(1)).map(|_| self.another()).collect();
        all.insert(0, self);
        all
    }

    /// How [`Restorer::restore`] chooses the fidelity weight; `None` for a version-1 model.
    pub fn fidelity(&self) -> Option<Fidelity> {
        self.fidelity
    }

    /// The model's auto-fidelity curve (`daefr.fidelity_auto`), if it has one.
    pub fn auto_curve(&self) -> Option<&AutoCurve> {
        self.meta.fidelity_auto.as_ref()
    }

    /// The weight [`Restorer::restore`] feeds for `face`: the fixed one, or under
    /// [`Fidelity::Auto`] the curve's weight at the face's [`sharpness`]. `None` for a version-1
    /// model.
    pub fn weight_for(&self, face: &RgbImage) -> Option<f32> {
        match (self.fidelity?, &self.meta.fidelity_auto) {
            (Fidelity::Weight(w), _) => Some(w),
            (Fidelity::Auto, Some(curve)) => Some(curve.weight_for(sharpness(face))),
            // resolve_fidelity never keeps Auto without a curve
            (Fidelity::Auto, None) => self.meta.fidelity_default,
        }
    }

    /// Side of the square model input in pixels.
    pub fn input_size(&self) -> u32 {
        self.meta.input_size
    }

    /// Alignment template of the model, in model-input pixels.
    pub fn template(&self) -> &Template {
        &self.meta.template
    }

    /// The model's validated metadata.
    pub fn metadata(&self) -> &ModelMetadata {
        &self.meta
    }

    /// The file actually loaded (the NNEF cache when one was used).
    pub fn model_path(&self) -> &Path {
        &self.path
    }

    /// Format of the file actually loaded.
    pub fn format(&self) -> ModelFormat {
        self.format
    }

    /// Wall time of [`Restorer::load`] (read + type + optimize).
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// Checks the crop size and converts it to the network's `[1, 3, S, S]` input, in place.
    fn input_tensor(&self, face: &RgbImage) -> Result<Tensor> {
        let size = self.meta.input_size;
        if face.width() != size || face.height() != size {
            return Err(Error::FaceSize {
                width: face.width(),
                height: face.height(),
                size,
            }
            .with_path(self.path.clone()));
        }
        let infer_err = |e: TractError| {
            Error::Inference {
                message: one_line(&e),
            }
            .with_path(self.path.clone())
        };
        let s = size as usize;
        let mut input = Tensor::zero::<f32>(&[1, 3, s, s]).map_err(infer_err)?;
        {
            let mut view = input.try_as_plain_ram_mut().map_err(infer_err)?;
            let planes = view.as_slice_mut::<f32>().map_err(infer_err)?;
            image_to_planes(face, self.meta.value_range, self.meta.channel_order, planes);
        }
        Ok(input)
    }

    /// The network inputs for `face`: the face tensor, plus the fidelity weight `w` for a
    /// version-2 model (ignored for version 1; `None`: [`Restorer::weight_for`] the face).
    fn inputs(&self, face: &RgbImage, w: Option<f32>) -> Result<TVec<TValue>> {
        let mut inputs = tvec!(self.input_tensor(face)?.into_tvalue());
        if self.meta.has_fidelity_input() {
            let w = check_fidelity(w.or_else(|| self.weight_for(face)).unwrap_or(0.0))?;
            let weight = if self.meta.weight_is_double() {
                tensor1(&[f64::from(w)])
            } else {
                tensor1(&[w])
            };
            inputs.push(weight.into_tvalue());
        }
        Ok(inputs)
    }

    /// Restores one aligned face crop of exactly `input_size` x `input_size` at the fidelity
    /// chosen at load (under `auto`, the face's own weight); returns the same size.
    pub fn restore(&self, face: &RgbImage) -> Result<RgbImage> {
        self.restore_at(face, None)
    }

    /// [`Restorer::restore`] at fidelity weight `w` (`None`: as chosen at load). The weight is a
    /// plain network input: changing it does not re-optimize anything.
    pub fn restore_at(&self, face: &RgbImage, w: Option<f32>) -> Result<RgbImage> {
        let size = self.meta.input_size;
        let s = size as usize;
        let infer_err = |e: TractError| {
            Error::Inference {
                message: one_line(&e),
            }
            .with_path(self.path.clone())
        };
        let inputs = self.inputs(face, w)?;
        let outputs = self.runner.run(inputs).map_err(infer_err)?;
        let output = outputs.first().ok_or_else(|| {
            Error::Inference {
                message: "model produced no output".into(),
            }
            .with_path(self.path.clone())
        })?;
        let expected = [1, 3, s, s];
        if output.shape() != expected {
            return Err(Error::Inference {
                message: format!("output shape {:?}, expected {:?}", output.shape(), expected),
            }
            .with_path(self.path.clone()));
        }
        let view = output.try_as_plain_ram().map_err(infer_err)?;
        let planes = view.as_slice::<f32>().map_err(infer_err)?;
        if let Some(bad) = planes.iter().find(|v| !v.is_finite()) {
            return Err(Error::Inference {
                message: format!(
                    "model output holds a non-finite value ({bad}); face left as it was"
                ),
            }
            .with_path(self.path.clone()));
        }
        Ok(planes_to_image(
            planes,
            size,
            self.meta.value_range,
            self.meta.channel_order,
        ))
    }

    /// Runs the network `iters` times on `face` and times every node of the optimized plan.
    /// Returns one entry per node, in execution order, with its total time over the runs.
    pub fn profile(&self, face: &RgbImage, iters: usize) -> Result<Vec<NodeTime>> {
        let infer_err = |e: TractError| {
            Error::Inference {
                message: one_line(&e),
            }
            .with_path(self.path.clone())
        };
        let inputs = self.inputs(face, None)?;
        let mut times: std::collections::HashMap<usize, NodeTime> = Default::default();
        let mut order = Vec::new();
        for _ in 0..iters.max(1) {
            let run = |state: &mut TypedSimpleState| {
                state.run_plan_with_eval(inputs.clone(), |ctx, op_state, node, inputs| {
                    let start = Instant::now();
                    let out = tract_onnx::tract_core::plan::eval(ctx, op_state, node, inputs);
                    let entry = times.entry(node.id).or_insert_with(|| {
                        order.push(node.id);
                        NodeTime {
                            name: node.name.clone(),
                            op: node.op.name().to_string(),
                            info: node.op.info().map(|i| i.join("; ")).unwrap_or_default(),
                            time: Duration::ZERO,
                        }
                    });
                    entry.time += start.elapsed();
                    out
                })
            };
            self.runner.with_state(run).map_err(infer_err)?;
        }
        Ok(order
            .into_iter()
            .filter_map(|id| times.remove(&id))
            .collect())
    }

    /// Runs the network `iters` times on a grey face; returns each run's wall time (for benches).
    pub fn time_runs(&self, iters: usize) -> Result<Vec<Duration>> {
        self.time_runs_at(iters, None)
    }

    /// [`Restorer::time_runs`] at fidelity weight `w` (`None`: the one chosen at load).
    pub fn time_runs_at(&self, iters: usize, w: Option<f32>) -> Result<Vec<Duration>> {
        let face = RgbImage::from_pixel(self.input_size(), self.input_size(), image::Rgb([128; 3]));
        (0..iters)
            .map(|_| {
                let start = Instant::now();
                self.restore_at(&face, w).map(|_| start.elapsed())
            })
            .collect()
    }
}

/// Time spent in one node of the optimized plan (see [`Restorer::profile`]).
#[derive(Debug, Clone)]
pub struct NodeTime {
    /// Node name (from the ONNX graph, with tract's suffixes).
    pub name: String,
    /// Operator name after optimization (e.g. `OptMatMul`, `DirectSpatialConv`).
    pub op: String,
    /// tract's one-line description of the op (kernel chosen, shapes).
    pub info: String,
    /// Total time over the profiled runs.
    pub time: Duration,
}

// `Restorer` must stay `Send`: the live loop moves one into each restore worker.
const _: fn() = || {
    fn is_send<T: Send>() {}
    is_send::<Restorer>();
};

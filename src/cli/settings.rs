//! Every setting of a command resolved once, before any work starts, into one [`Settings`].
//!
//! Precedence, for every setting: the command line, then the board profile (`--config`), then the
//! model file's metadata, then the built-in default. In full:
//!
//! | setting | command line | profile | then |
//! | --- | --- | --- | --- |
//! | restorer model | `--model` | `model.restorer` | `$DAEFR_MODEL`, else the bundled model |
//! | detector model | `--detector-model` (restore, bench) | `model.detector` | `--detector KIND` (restore, bench) picks a bundled variant; else `$DAEFR_DETECTOR` (a file, or a kind such as `short-range`), else the bundled default (long-range for `restore`, short-range for `run` and `bench`) |
//! | fallback detector | none when any of the above names the detector | none | `restore` on the bundled default: short-range for a photo in which long-range finds no face |
//! | fidelity `w` | `--fidelity` | `model.fidelity` | `auto` where the model has `daefr.fidelity_auto`, else its `daefr.fidelity_default` |
//! | matrix threads (restorer and detector) | `--threads` | `model.threads` (0 = unset) | 1 |
//! | workers | `--workers` (restore) | `model.restore_workers` (run) | restore: one per core, at most one per file; run: 1 |
//! | detector threshold | `--min-score` (restore) | `model.min_score` (0.6 when a profile leaves it out) | 0.5 |
//! | bench frame | `--size`, `--faces` | `source.width` x `source.height`, `source.faces`; `pipeline.max_faces`; a YUYV camera's conversion is timed | 640x480, 1 face, every face, MJPEG decode |
//! | live run length | `--frames`, `--duration` | the rest of the live options from the profile ([`LiveOptions`]) | until stopped |
//!
//! Workers x threads never exceed the cores: the threads are lowered with a warning
//! ([`resolve_parallelism`], the same rule as the library's [`daefr::tuning::cap_threads`]).

use std::path::PathBuf;

use std::time::Duration;

use anyhow::Context;
use daefr::config::{CameraFormat, Config, SourceKind};
use daefr::detect::{
    default_detector_path, detector_path, BlazeFace, DetectorKind, DetectorOptions, FaceDetector,
    FallbackDetector, TiledDetector,
};
use daefr::live::LiveOptions;
use daefr::model::{Fidelity, LoadOptions, Restorer};
use daefr::photo::FacePipeline;
use daefr::tuning::fit_to_cores;

/// Frame size `daefr bench` times when neither `--size` nor a profile gives one.
pub const DEFAULT_BENCH_FRAME: (u32, u32) = (640, 480);

/// What the command line said, before anything is resolved. `None`: not given.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--model`.
    pub model: Option<PathBuf>,
    /// A detector file given on the command line.
    pub detector: Option<PathBuf>,
    /// `--detector KIND` (restore): a bundled variant.
    pub detector_kind: Option<DetectorKind>,
    /// `--threads`.
    pub threads: Option<usize>,
    /// `--workers`.
    pub workers: Option<usize>,
    /// `--fidelity`.
    pub fidelity: Option<Fidelity>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--min-score` (restore): the detector's score threshold.
    pub min_score: Option<f32>,
    /// `--no-tiles` (restore): detect on the whole photo only.
    pub no_tiles: bool,
}

/// What a command needs resolved besides the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// The restorer only (`inspect`, `convert`, `restore --aligned`).
    Restorer,
    /// The restorer and a face detector whose bundled default is `default_kind`.
    Detector {
        /// The bundled variant used when nothing else names a detector.
        default_kind: DetectorKind,
    },
}

impl Needs {
    /// What `run` and `bench` need: a detector whose bundled default is short-range (faces that
    /// fill a good part of a camera frame), unless the command runs without one (`false`: `run
    /// --truth-detector`, `bench --select`).
    pub fn live(detects: bool) -> Needs {
        if detects {
            Needs::Detector {
                default_kind: DetectorKind::ShortRange,
            }
        } else {
            Needs::Restorer
        }
    }
}

/// Every setting of one command, resolved (see the module documentation).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The restorer model file.
    pub model: PathBuf,
    /// How to load it: matrix threads (resolved against the workers), cache, fidelity.
    pub load: LoadOptions,
    /// The detector model file, when the command detects faces.
    pub detector: Option<PathBuf>,
    /// The detector asked when [`Settings::detector`] finds no face in a photo: the bundled
    /// short-range model where nothing named the detector and the default is long-range.
    pub fallback_detector: Option<PathBuf>,
    /// The detector's thresholds.
    pub detector_options: DetectorOptions,
    /// Whole photos larger than the detector's tile are also searched tile by tile
    /// ([`TiledDetector`]).
    pub tiles: bool,
    /// Workers, each with its own run state over the shared plan.
    pub workers: usize,
    /// Why a count asked for was lowered, one line each (logged by [`Settings::log`]).
    pub warnings: Vec<String>,
}

impl Settings {
    /// Resolves `flags` over `profile` for a machine of `cores` cores and `jobs` units of work
    /// (files; `usize::MAX` for a live run).
    pub fn resolve(
        flags: &Flags,
        profile: Option<&Config>,
        needs: Needs,
        cores: usize,
        jobs: usize,
    ) -> anyhow::Result<Settings> {
        let model_config = profile.map(|c| &c.model);
        let model = match flags
            .model
            .clone()
            .or_else(|| model_config.and_then(|m| m.restorer.clone()))
        {
            Some(path) => path,
            None => daefr::model::require_default_model()?,
        };
        let profile_detector = model_config.and_then(|m| m.detector.clone());
        let (detector, fallback_detector) = match needs {
            Needs::Restorer => (None, None),
            Needs::Detector { default_kind } => (
                Some(resolve_detector(
                    flags,
                    profile_detector.clone(),
                    default_kind,
                )?),
                resolve_fallback_detector(flags, profile_detector.as_ref(), default_kind),
            ),
        };
        let threads = flags
            .threads
            .or_else(|| model_config.map(|m| m.threads as usize).filter(|&t| t > 0));
        let workers = flags
            .workers
            .or_else(|| model_config.map(|m| m.restore_workers as usize));
        let parallelism = resolve_parallelism(cores, jobs, workers, threads);
        let fidelity = flags
            .fidelity
            .or_else(|| model_config.and_then(|m| m.fidelity));
        let mut detector_options = DetectorOptions {
            // one runner for both networks: the detector's plan gets the restorer's threads
            threads: Some(parallelism.threads),
            ..DetectorOptions::default()
        };
        if let Some(threshold) = flags
            .min_score
            .or_else(|| model_config.map(|m| m.min_score))
        {
            detector_options.score_threshold = threshold;
        }
        Ok(Settings {
            model,
            fallback_detector,
            load: LoadOptions {
                threads: Some(parallelism.threads),
                use_cache: !flags.no_cache,
                fidelity,
            },
            detector,
            detector_options,
            tiles: !flags.no_tiles,
            workers: parallelism.workers,
            warnings: parallelism.warnings,
        })
    }

    /// The entry point of the commands: resolves `flags` over `profile` on this machine's cores
    /// for `jobs` units of work and logs the outcome once. `restore`, `run` and `bench` call this
    /// and only consume what it returns.
    pub fn for_command(
        flags: &Flags,
        profile: Option<&Config>,
        needs: Needs,
        jobs: usize,
    ) -> anyhow::Result<Settings> {
        let cores = available_cores();
        let settings = Settings::resolve(flags, profile, needs, cores, jobs)?;
        settings.log(cores);
        Ok(settings)
    }

    /// The settings of a command that runs one plan of the restorer and no detector (`inspect`,
    /// `convert`, `bench-model`).
    pub fn for_one_plan(flags: &Flags) -> anyhow::Result<Settings> {
        Settings::resolve(flags, None, Needs::Restorer, available_cores(), 1)
    }

    /// Matrix threads per plan.
    pub fn threads(&self) -> usize {
        self.load.threads.unwrap_or(1)
    }

    /// Logs the warnings once, and the resolved counts.
    pub fn log(&self, cores: usize) {
        for warning in &self.warnings {
            log::warn!("{warning}");
        }
        log::info!(
            "{} worker(s) x {} matrix thread(s) on {cores} core(s)",
            self.workers,
            self.threads()
        );
    }

    /// The detector file (a command that declared [`Needs::Detector`] always has one).
    pub fn detector_path(&self) -> anyhow::Result<&PathBuf> {
        self.detector
            .as_ref()
            .context("internal: this command resolved no face detector")
    }

    /// Loads the restorer once and makes `workers` (at least one) of it that share the optimized
    /// plan, each with its own run state ([`Restorer::another`]).
    pub fn load_restorers(&self, workers: usize) -> anyhow::Result<Vec<Restorer>> {
        Ok(self.load_restorer()?.with_others(workers))
    }

    /// Loads the restorer and the detector once and makes `workers` (at least one) face paths
    /// that share their plans; with [`Settings::tiles`] the detector also searches tiles of four
    /// times its input (1024 px for long-range BlazeFace) in larger photos, and with a
    /// [`Settings::fallback_detector`] that one looks at the whole photo when the first finds
    /// no face.
    pub fn load_pipelines(&self, workers: usize) -> anyhow::Result<Vec<FacePipeline>> {
        let detector = self.load_detector()?;
        let fallback = match &self.fallback_detector {
            Some(path) => Some(BlazeFace::load(path, &self.detector_options)?),
            None => None,
        };
        let tile = 4 * detector.input_size();
        let iou = detector.options().iou_threshold;
        Ok(self
            .load_restorers(workers)?
            .into_iter()
            .map(|restorer| {
                let mut detector: Box<dyn FaceDetector> = if self.tiles {
                    Box::new(TiledDetector::new(detector.clone(), tile, iou))
                } else {
                    Box::new(detector.clone())
                };
                if let Some(fallback) = &fallback {
                    detector =
                        Box::new(FallbackDetector::new(detector, Box::new(fallback.clone())));
                }
                FacePipeline::new(detector, restorer)
            })
            .collect())
    }

    /// Loads one plan of the restorer and logs how long it took.
    pub fn load_restorer(&self) -> anyhow::Result<Restorer> {
        let restorer = Restorer::load(&self.model, &self.load)?;
        log::info!(
            "model {} ({}, {}x{}) loaded in {:?}",
            restorer.model_path().display(),
            restorer.format(),
            restorer.input_size(),
            restorer.input_size(),
            restorer.load_time()
        );
        Ok(restorer)
    }

    /// Loads the face detector.
    pub fn load_detector(&self) -> anyhow::Result<BlazeFace> {
        Ok(BlazeFace::load(
            self.detector_path()?,
            &self.detector_options,
        )?)
    }
}

/// The frame `daefr bench` times, resolved once (module table: the command line over the
/// profile over the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchFrame {
    /// Width and height.
    pub size: (u32, u32),
    /// Faces in the synthetic frame.
    pub synthetic_faces: u32,
    /// Most faces restored per frame (the profile's `pipeline.max_faces`).
    pub max_faces: usize,
    /// The profile's camera hands over YUYV (its conversion is timed, not a JPEG decode).
    pub yuyv: bool,
}

impl BenchFrame {
    /// `--size` and `--faces` over `profile` over the defaults.
    pub fn resolve(size: Option<(u32, u32)>, faces: Option<u32>, profile: Option<&Config>) -> Self {
        BenchFrame {
            size: size
                .or_else(|| profile.map(|c| (c.source.width, c.source.height)))
                .unwrap_or(DEFAULT_BENCH_FRAME),
            synthetic_faces: faces
                .or_else(|| profile.map(|c| c.source.faces))
                .unwrap_or(1),
            max_faces: profile.map_or(usize::MAX, |c| c.pipeline.max_faces as usize),
            yuyv: profile.is_some_and(|c| {
                c.source.kind == SourceKind::Camera && c.source.format == CameraFormat::Yuyv
            }),
        }
    }
}

/// The live loop's options: the profile's ([`LiveOptions::from`]) with the command line's
/// `--frames` and `--duration` (seconds) as the stop rule.
pub fn live_options(profile: &Config, frames: Option<u64>, duration_s: Option<f64>) -> LiveOptions {
    LiveOptions {
        max_frames: frames,
        max_duration: duration_s.map(Duration::from_secs_f64),
        ..LiveOptions::from(profile)
    }
}

/// How a directory run spreads over the cores: `workers` model plans side by side, each running
/// its matrix kernels on `threads` threads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parallelism {
    /// Worker threads, each with its own run state over the shared plan (at least 1).
    pub workers: usize,
    /// tract matrix threads per plan (at least 1).
    pub threads: usize,
    /// Why a count asked for was lowered, one line each (to be logged once as warnings).
    pub warnings: Vec<String>,
}

/// Resolves `--workers` and `--threads` against `cores` (at least 1) and `jobs` (the files to
/// do) so that `workers * threads <= cores`:
/// - neither given: one single-threaded worker per core, at most one per job;
/// - `--threads T` alone: `max(1, cores / T)` workers of `T` threads;
/// - `--workers W` alone: `W` single-threaded workers;
/// - both: as given, with the threads lowered (and a warning) when they would oversubscribe.
///
/// Workers are capped at the jobs (silently: idle workers cost memory, not correctness) and at
/// the cores (with a warning), threads at the cores (with a warning).
pub fn resolve_parallelism(
    cores: usize,
    jobs: usize,
    workers: Option<usize>,
    threads: Option<usize>,
) -> Parallelism {
    let cores = cores.max(1);
    let mut warnings = Vec::new();
    let mut fit = |asked: usize, what: &str| {
        let (count, warning) = fit_to_cores(asked.max(1), cores, what);
        warnings.extend(warning);
        count
    };
    let mut threads = fit(threads.unwrap_or(1), "threads");
    let mut workers = match workers {
        Some(asked) => fit(asked, "workers"),
        None => (cores / threads).max(1),
    };
    workers = workers.min(jobs.max(1));
    if workers * threads > cores {
        let fitting = (cores / workers).max(1);
        warnings.push(format!(
            "{workers} workers x {threads} threads would oversubscribe {cores} cores; \
             using {fitting} thread(s) per worker"
        ));
        threads = fitting;
    }
    Parallelism {
        workers,
        threads,
        warnings,
    }
}

/// The cores this process may use (`std::thread::available_parallelism`, 1 when unknown).
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The detector file: the command line's, the profile's, a bundled variant named by
/// `--detector KIND`, `$DAEFR_DETECTOR`, or the bundled `default_kind`.
fn resolve_detector(
    flags: &Flags,
    profile: Option<PathBuf>,
    default_kind: DetectorKind,
) -> anyhow::Result<PathBuf> {
    if let Some(path) = flags.detector.clone().or(profile) {
        return Ok(path);
    }
    if let Some(kind) = flags.detector_kind {
        return detector_path(kind).with_context(|| {
            format!("the bundled {kind} BlazeFace model was not found under models/blazeface/; pass a detector file")
        });
    }
    Ok(default_detector_path(default_kind)?)
}

/// The bundled short-range detector, for the photos in which the default long-range one finds
/// no face; `None` when anything named the detector (the command line, the profile,
/// `$DAEFR_DETECTOR`), when the default is not long-range, or when short-range is not bundled.
fn resolve_fallback_detector(
    flags: &Flags,
    profile: Option<&PathBuf>,
    default_kind: DetectorKind,
) -> Option<PathBuf> {
    let named = flags.detector.is_some()
        || profile.is_some()
        || flags.detector_kind.is_some()
        || std::env::var_os(daefr::bundled::DETECTOR_ENV).is_some();
    if named || default_kind != DetectorKind::LongRange {
        return None;
    }
    detector_path(DetectorKind::ShortRange)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn profile(model_section: &str) -> Config {
        let text = format!("[source]\nkind = \"synthetic\"\n[model]\n{model_section}\n");
        Config::parse(&text, Path::new("test.toml")).expect("valid profile")
    }

    fn flags() -> Flags {
        Flags {
            model: Some(PathBuf::from("cli.onnx")),
            ..Flags::default()
        }
    }

    fn resolve(flags: &Flags, profile: Option<&Config>, cores: usize) -> Settings {
        Settings::resolve(flags, profile, Needs::Restorer, cores, usize::MAX).expect("resolves")
    }

    #[test]
    fn the_command_line_beats_the_profile() {
        let p = profile(
            "restorer = \"profile.onnx\"\nthreads = 2\nfidelity = 0.2\nrestore_workers = 2",
        );
        let cli = Flags {
            threads: Some(1),
            workers: Some(1),
            fidelity: Some(Fidelity::Weight(0.9)),
            ..flags()
        };
        let s = resolve(&cli, Some(&p), 8);
        assert_eq!(s.model, PathBuf::from("cli.onnx"));
        assert_eq!(s.threads(), 1);
        assert_eq!(s.workers, 1);
        assert_eq!(s.load.fidelity, Some(Fidelity::Weight(0.9)));
    }

    #[test]
    fn the_profile_beats_the_defaults() {
        let p = profile(
            "restorer = \"profile.onnx\"\nthreads = 2\nfidelity = 0.2\nrestore_workers = 3\nmin_score = 0.75",
        );
        let s = resolve(&Flags::default(), Some(&p), 8);
        assert_eq!(s.model, PathBuf::from("profile.onnx"));
        assert_eq!(s.threads(), 2);
        assert_eq!(s.workers, 3);
        assert_eq!(s.load.fidelity, Some(Fidelity::Weight(0.2)));
        assert_eq!(s.detector_options.score_threshold, 0.75);
        assert_eq!(
            s.detector_options.threads,
            Some(2),
            "the detector runs on --threads too"
        );
    }

    #[test]
    fn without_either_the_defaults_apply_and_fidelity_is_left_to_the_model() {
        let s = resolve(&flags(), None, 4);
        assert_eq!(s.threads(), 1);
        assert_eq!(s.workers, 4, "one single-threaded worker per core");
        assert_eq!(
            s.load.fidelity, None,
            "None: the model's daefr.fidelity_default"
        );
        assert!(s.load.use_cache);
        assert_eq!(
            s.detector_options.score_threshold,
            DetectorOptions::default().score_threshold
        );
        let p = profile("threads = 0");
        assert_eq!(resolve(&flags(), Some(&p), 4).threads(), 1, "0 means unset");
    }

    #[test]
    fn a_profile_that_oversubscribes_the_cores_is_lowered_with_a_warning() {
        let p = profile("threads = 3\nrestore_workers = 1");
        let s = resolve(&flags(), Some(&p), 2);
        assert_eq!((s.workers, s.threads()), (1, 2));
        let p = profile("threads = 2\nrestore_workers = 2");
        let s = resolve(&flags(), Some(&p), 2);
        assert_eq!((s.workers, s.threads()), (2, 1));
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    }

    #[test]
    fn detectors_follow_the_same_order() {
        let needs = Needs::Detector {
            default_kind: DetectorKind::ShortRange,
        };
        let p = profile("detector = \"profile-face.onnx\"");
        let cli = Flags {
            detector: Some(PathBuf::from("cli-face.onnx")),
            ..flags()
        };
        let s = Settings::resolve(&cli, Some(&p), needs, 2, 1).expect("resolves");
        assert_eq!(s.detector, Some(PathBuf::from("cli-face.onnx")));
        let s = Settings::resolve(&flags(), Some(&p), needs, 2, 1).expect("resolves");
        assert_eq!(s.detector, Some(PathBuf::from("profile-face.onnx")));
        let s = Settings::resolve(&flags(), None, Needs::Restorer, 2, 1).expect("resolves");
        assert_eq!(s.detector, None);
        assert_eq!(s.fallback_detector, None);
    }

    #[test]
    fn only_the_unnamed_long_range_default_gets_the_short_range_fallback() {
        let long = DetectorKind::LongRange;
        let named_file = Flags {
            detector: Some(PathBuf::from("cli-face.onnx")),
            ..flags()
        };
        let named_kind = Flags {
            detector_kind: Some(DetectorKind::LongRange),
            ..flags()
        };
        assert_eq!(resolve_fallback_detector(&named_file, None, long), None);
        assert_eq!(resolve_fallback_detector(&named_kind, None, long), None);
        let from_profile = PathBuf::from("profile-face.onnx");
        assert_eq!(
            resolve_fallback_detector(&flags(), Some(&from_profile), long),
            None
        );
        assert_eq!(
            resolve_fallback_detector(&flags(), None, DetectorKind::ShortRange),
            None
        );
        let unnamed = resolve_fallback_detector(&flags(), None, long);
        if std::env::var_os(daefr::bundled::DETECTOR_ENV).is_some() {
            assert_eq!(unnamed, None, "$DAEFR_DETECTOR names the detector");
        } else {
            assert_eq!(unnamed, detector_path(DetectorKind::ShortRange));
            assert!(unnamed.is_some(), "short-range BlazeFace is bundled");
        }
    }

    /// `(workers, threads, warnings)` of [`resolve_parallelism`].
    fn resolved(
        cores: usize,
        jobs: usize,
        workers: Option<usize>,
        threads: Option<usize>,
    ) -> (usize, usize, usize) {
        let p = resolve_parallelism(cores, jobs, workers, threads);
        assert!(
            p.workers >= 1 && p.threads >= 1 && p.workers * p.threads <= cores.max(1),
            "{cores} cores, {jobs} jobs, {workers:?} x {threads:?}: {p:?}"
        );
        (p.workers, p.threads, p.warnings.len())
    }

    #[test]
    fn by_default_one_single_threaded_worker_per_core_and_file() {
        assert_eq!(resolved(4, 20, None, None), (4, 1, 0));
        assert_eq!(resolved(4, 2, None, None), (2, 1, 0));
        assert_eq!(resolved(4, 0, None, None), (1, 1, 0));
        assert_eq!(resolved(0, 20, None, None), (1, 1, 0));
    }

    #[test]
    fn threads_alone_divide_the_cores_into_workers() {
        assert_eq!(resolved(4, 20, None, Some(2)), (2, 2, 0));
        assert_eq!(resolved(4, 20, None, Some(3)), (1, 3, 0));
        assert_eq!(resolved(2, 20, None, Some(3)), (1, 2, 1));
        assert_eq!(resolved(8, 20, None, Some(1)), (8, 1, 0));
        assert_eq!(resolved(4, 1, None, Some(2)), (1, 2, 0));
        assert_eq!(resolved(4, 20, None, Some(0)), (4, 1, 0));
    }

    #[test]
    fn oversubscribing_workers_and_threads_lower_the_threads_with_one_warning() {
        assert_eq!(resolved(4, 20, Some(2), Some(2)), (2, 2, 0));
        assert_eq!(resolved(4, 20, Some(2), Some(3)), (2, 2, 1));
        assert_eq!(resolved(4, 20, Some(4), Some(4)), (4, 1, 1));
        assert_eq!(resolved(4, 20, Some(3), Some(2)), (3, 1, 1));
        // One file leaves room for all the threads asked for: no warning.
        assert_eq!(resolved(4, 1, Some(4), Some(4)), (1, 4, 0));
    }

    #[test]
    fn workers_are_capped_at_the_cores_and_the_files() {
        assert_eq!(resolved(2, 20, Some(1), None), (1, 1, 0));
        assert_eq!(resolved(2, 20, Some(2), None), (2, 1, 0));
        assert_eq!(resolved(2, 20, Some(8), None), (2, 1, 1));
        assert_eq!(resolved(8, 3, Some(8), None), (3, 1, 0));
        assert_eq!(resolved(2, 20, Some(8), Some(2)), (2, 1, 2));
        assert_eq!(resolved(2, 1, None, Some(100_000)), (1, 2, 1));
    }

    #[test]
    fn the_bench_frame_follows_the_same_order() {
        let p = profile("");
        let from_profile = BenchFrame::resolve(None, None, Some(&p));
        assert_eq!(from_profile.size, (p.source.width, p.source.height));
        assert_eq!(from_profile.synthetic_faces, p.source.faces);
        assert_eq!(from_profile.max_faces, p.pipeline.max_faces as usize);
        assert!(!from_profile.yuyv, "a synthetic source is no YUYV camera");
        let cli = BenchFrame::resolve(Some((320, 240)), Some(3), Some(&p));
        assert_eq!((cli.size, cli.synthetic_faces), ((320, 240), 3));
        let bare = BenchFrame::resolve(None, None, None);
        assert_eq!(
            (bare.size, bare.synthetic_faces, bare.max_faces),
            (DEFAULT_BENCH_FRAME, 1, usize::MAX)
        );
        let live = live_options(&p, Some(5), Some(1.5));
        assert_eq!(live.max_frames, Some(5));
        assert_eq!(live.max_duration, Some(Duration::from_millis(1500)));
        assert_eq!(
            live_options(&p, None, None).max_frames,
            LiveOptions::from(&p).max_frames
        );
    }
}

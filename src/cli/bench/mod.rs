//! `daefr bench`: per-stage times of the photo/live pipeline on *this* machine.
//!
//! Meant to be run on the board itself (`daefr bench --config firmware-config/rpi4.toml`):
//! figures from qemu or from another machine say nothing about a Pi. Stages run one after the
//! other on one thread of control (the live loop may overlap restores across workers).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use daefr::capture::yuv::{rgb_to_yuyv, yuyv_to_rgb};
use daefr::capture::SyntheticSource;
use daefr::config::Config;
use daefr::photo::{FacePipeline, PhotoOptions, StageTimes};
use image::codecs::jpeg::JpegEncoder;
use image::imageops::{self, FilterType};
use image::RgbImage;

use super::settings::{available_cores, BenchFrame, Flags, Needs, Settings};
use super::Global;

mod report;

use report::Report;

/// Arguments of `daefr bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Board profile (firmware-config/<board>.toml): its models, threads, detector threshold,
    /// frame size, camera format, synthetic face count and max faces.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Restorer model (overrides the profile's; default: the bundled model).
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Bundled face detector, `short-range` (default) or `long-range`, as in `restore`. (A file
    /// path here still works, with a warning: give it to --detector-model.)
    #[arg(long, value_name = "KIND", value_parser = super::detector_choice)]
    pub detector: Option<super::DetectorChoice>,
    /// Detector model file (overrides the profile's and --detector).
    #[arg(long, value_name = "PATH", conflicts_with = "detector")]
    pub detector_model: Option<PathBuf>,
    /// Use this picture as the frame (resized to the frame size) instead of a synthetic frame.
    #[arg(long, value_name = "PATH")]
    pub image: Option<PathBuf>,
    /// Frame size WIDTHxHEIGHT (default: the profile's, else 640x480).
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub size: Option<(u32, u32)>,
    /// Faces in the synthetic frame, 1..=8 (default: the profile's `source.faces`, else 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=8))]
    pub faces: Option<u32>,
    /// Timed iterations (after `--warmup` untimed ones); medians are reported.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub iters: usize,
    /// Untimed warm-up iterations.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub warmup: usize,
    /// Load the .onnx file itself even when a fresh NNEF cache sits next to it.
    #[arg(long)]
    pub no_cache: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Instead of the per-stage table: time the restorer at every split of the cores into
    /// workers x threads (and every `--candidate` model) and name the fastest.
    #[arg(long)]
    pub select: bool,
    /// With `--select`: another restorer model to compare (e.g. an int8 graph); repeatable.
    #[arg(long, value_name = "PATH", requires = "select")]
    pub candidate: Vec<PathBuf>,
    /// With `--select`: seconds of restoring per configuration.
    #[arg(long, value_name = "S", default_value_t = 3.0, value_parser = super::positive_seconds, requires = "select")]
    pub seconds: f64,
    /// With `--select`: write the winner (`model.threads`, `model.restore_workers`, and
    /// `model.restorer` when another candidate won) into the `--config` profile, keeping its
    /// comments.
    #[arg(long, requires = "select")]
    pub write: bool,
}

/// Parses `640x480`.
fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("`{text}`: expected WIDTHxHEIGHT, e.g. 640x480"))?;
    let parse = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|e| format!("`{text}`: {e}"))
    };
    let (w, h) = (parse(w)?, parse(h)?);
    if !(16..=7680).contains(&w) || !(16..=4320).contains(&h) {
        return Err(format!("`{text}`: allowed 16..=7680 x 16..=4320"));
    }
    Ok((w, h))
}

/// What the camera hands over before detection, and so what the preprocess stage times.
enum Preprocess {
    /// Decode a motion-JPEG frame (the default camera format), quality 85.
    Mjpeg(Vec<u8>),
    /// Convert a packed YUYV 4:2:2 frame to RGB.
    Yuyv(Vec<u8>),
}

impl Preprocess {
    fn describe(&self, width: u32, height: u32) -> String {
        match self {
            Preprocess::Mjpeg(_) => format!("MJPEG decode {width}x{height}"),
            Preprocess::Yuyv(_) => format!("YUYV->RGB {width}x{height}"),
        }
    }

    /// Runs the conversion once; the result is only checked for its size (detection runs on the
    /// original frame so that every iteration sees the same pixels).
    fn run(&self, width: u32, height: u32) -> anyhow::Result<()> {
        let rgb = match self {
            Preprocess::Mjpeg(bytes) => {
                image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg)
                    .context("decoding the benchmark's JPEG frame")?
                    .to_rgb8()
            }
            Preprocess::Yuyv(bytes) => yuyv_to_rgb(bytes, width, height)
                .context("the benchmark's YUYV frame has the wrong length")?,
        };
        if rgb.dimensions() != (width, height) {
            bail!(
                "preprocess produced {:?}, expected {width}x{height}",
                rgb.dimensions()
            );
        }
        let _ = std::hint::black_box(rgb);
        Ok(())
    }
}

/// Per-iteration wall times of each stage (all faces of the frame summed).
#[derive(Default)]
struct Samples {
    preprocess: Vec<Duration>,
    detect: Vec<Duration>,
    align: Vec<Duration>,
    restore: Vec<Duration>,
    paste: Vec<Duration>,
    total: Vec<Duration>,
    faces: Vec<usize>,
}

/// Runs `daefr bench`.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(path) => Some(Config::load(path)?),
        None => None,
    };
    let frame_settings = BenchFrame::resolve(args.size, args.faces, config.as_ref());
    let (width, height) = frame_settings.size;
    let synthetic_faces = frame_settings.synthetic_faces;
    let options = PhotoOptions {
        max_faces: frame_settings.max_faces,
        ..PhotoOptions::default()
    };
    let (detector_kind, detector_file) = match args.detector.clone() {
        Some(super::DetectorChoice::Kind(kind)) => (Some(kind), None),
        Some(super::DetectorChoice::File(path)) => {
            log::warn!(
                "--detector {}: a file goes to --detector-model; --detector takes a kind (short-range, long-range)",
                path.display()
            );
            (None, Some(path))
        }
        None => (None, None),
    };
    let flags = Flags {
        model: args.model.clone(),
        detector: args.detector_model.clone().or(detector_file),
        detector_kind,
        threads: global.threads,
        no_cache: args.no_cache,
        ..Flags::default()
    };
    let needs = Needs::live(!args.select);
    // Resolved as `daefr run` resolves them, so the plan timed is the plan a worker runs.
    let settings = Settings::for_command(&flags, config.as_ref(), needs, usize::MAX)?;
    if args.select {
        return select(&args, global, &settings, available_cores());
    }

    let start = Instant::now();
    let restorer = settings.load_restorer()?;
    let load_restorer = start.elapsed();
    let start = Instant::now();
    let detector = settings.load_detector()?;
    let load_detector = start.elapsed();
    let mut pipeline = FacePipeline::new(Box::new(detector), restorer);

    let frame = match &args.image {
        Some(path) => {
            let picture = daefr::image_io::read_rgb(path)?;
            imageops::resize(&picture, width, height, FilterType::Triangle)
        }
        None => {
            SyntheticSource::new(width, height, synthetic_faces, 0, None)?
                .render(0)
                .0
        }
    };
    let preprocess = if frame_settings.yuyv {
        Preprocess::Yuyv(rgb_to_yuyv(&frame))
    } else {
        let mut bytes = Vec::new();
        JpegEncoder::new_with_quality(&mut bytes, 85)
            .encode_image(&frame)
            .context("encoding the benchmark's JPEG frame")?;
        Preprocess::Mjpeg(bytes)
    };

    let mut samples = Samples::default();
    for iteration in 0..args.warmup + args.iters.max(1) {
        let one = run_once(&frame, &preprocess, &mut pipeline, &options)?;
        if iteration >= args.warmup {
            samples.preprocess.push(one.preprocess);
            samples.detect.push(one.stages.detect);
            samples.align.push(one.stages.align);
            samples.restore.push(one.stages.restore);
            samples.paste.push(one.stages.paste);
            samples.total.push(one.total);
            samples.faces.push(one.faces);
        }
    }

    let report = Report {
        profile: args.config.as_deref(),
        model: pipeline.restorer().model_path(),
        model_format: pipeline.restorer().format().to_string(),
        detector: settings.detector_path()?,
        frame: (width, height),
        frame_source: match &args.image {
            Some(p) => p.display().to_string(),
            None => format!("synthetic, {synthetic_faces} face(s)"),
        },
        preprocess: preprocess.describe(width, height),
        threads: settings.threads(),
        load_restorer,
        load_detector,
        times: samples,
    };
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.table());
    }
    if report.times.faces.iter().all(|&n| n == 0) {
        crate::say!(
            "daefr bench: warning: no face detected in the frame; align/restore/paste not \
             measured (try --image with a portrait)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `--select`: every candidate model at every split of the cores; optionally written.
fn select(
    args: &Args,
    global: &Global,
    settings: &Settings,
    cores: usize,
) -> anyhow::Result<ExitCode> {
    if global.threads.is_some() {
        bail!("--select chooses the threads itself; drop --threads");
    }
    let write_to = match (args.write, &args.config) {
        (true, Some(profile)) => Some(profile.as_path()),
        (true, None) => bail!("--write needs --config PROFILE to write into"),
        (false, _) => None,
    };
    let mut models = vec![settings.model.clone()];
    models.extend(args.candidate.iter().cloned());
    let rows = super::bench_select::select(&models, &settings.load, cores, args.seconds)?;
    super::bench_select::report_and_write(&rows, &settings.model, write_to)?;
    Ok(ExitCode::SUCCESS)
}

/// One iteration's times.
struct Once {
    preprocess: Duration,
    stages: StageTimes,
    total: Duration,
    faces: usize,
}

/// preprocess, then the face path `daefr restore` runs ([`FacePipeline::run_timed`]: detect ->
/// align -> restore -> paste) on one frame, timing each stage.
fn run_once(
    frame: &RgbImage,
    preprocess: &Preprocess,
    pipeline: &mut FacePipeline,
    options: &PhotoOptions,
) -> anyhow::Result<Once> {
    let begin = Instant::now();
    preprocess.run(frame.width(), frame.height())?;
    let preprocess_time = begin.elapsed();
    let mut stages = StageTimes::default();
    let output = pipeline.run_timed(frame, options, &mut stages)?;
    let faces = output.restored();
    let _ = std::hint::black_box(&output);
    Ok(Once {
        preprocess: preprocess_time,
        stages,
        total: begin.elapsed(),
        faces,
    })
}

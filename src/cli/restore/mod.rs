//! `daefr restore`: restore every face of a whole photo (detect, align, restore, paste back), or
//! with `--aligned` one aligned face crop; or every image in a directory (`-r`: and below).
//! [`jobs`] decides what is read and written, [`report`] what is said about it.

mod jobs;
mod report;
mod stream;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use daefr::atomic::Replace;
use daefr::image_io::{
    copy_file_with, read_rgb, read_rgb_with_metadata, write_rgb_with, write_rgb_with_metadata,
    ImageMetadata, WriteOptions, DEFAULT_JPEG_QUALITY,
};
use daefr::model::{Fidelity, Restorer};
use image::imageops::{self, FilterType};
use image::RgbImage;
use indicatif::{ProgressBar, ProgressStyle};

use super::settings::{Flags, Needs, Settings};
use super::Global;
use daefr::detect::DetectorKind;
use daefr::photo::{FacePipeline, FaceSelection, StageTimes};

use jobs::Job;
use report::{JsonReport, PhotoReport};

/// Arguments of `daefr restore`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// An image file, a directory of images (PNG, JPEG, WebP, BMP, TIFF), a Y4M video (every
    /// frame restored, faces tracked), or `-` for standard input (an image or a Y4M stream).
    pub input: PathBuf,
    /// Output file (for a file input), directory (for a directory input; created if missing), or
    /// `-` for standard output (in the input's format).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Inputs are already aligned face crops (resized to the model input as they are).
    #[arg(long)]
    pub aligned: bool,
    /// Model file (.onnx or .nnef.tar); default: the bundled models/daefr-lite-128-int8.onnx.
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Resize each output back to its input's size (default: output at the model's size).
    #[arg(long)]
    pub keep_size: bool,
    /// Load the .onnx file itself even when a fresh NNEF cache sits next to it.
    #[arg(long)]
    pub no_cache: bool,
    /// Whole photos: bundled face detector, `long-range` (256 px input, small faces in group
    /// photos) or `short-range` (128 px, faces filling much of the picture). Default:
    /// `$DAEFR_DETECTOR` when set, else long-range, with short-range asked for a photo in which
    /// long-range finds no face (naming a detector turns that fallback off).
    #[arg(long, value_name = "KIND")]
    pub detector: Option<daefr::detect::DetectorKind>,
    /// Whole photos: detector model file (default: the bundled BlazeFace for --detector).
    #[arg(long, value_name = "PATH")]
    pub detector_model: Option<PathBuf>,
    /// Whole photos: faces narrower than this many pixels are left as they are.
    #[arg(long, value_name = "PX", default_value_t = daefr::photo::DEFAULT_MIN_FACE, value_parser = super::pixels)]
    pub min_face: f32,
    /// Whole photos: write each aligned face and its restored crop into DIR (several photos:
    /// DIR/STEM, or DIR/NAME for photos sharing a stem); earlier crops are replaced only with
    /// --force.
    #[arg(long, value_name = "DIR")]
    pub save_faces: Option<PathBuf>,
    /// Quality of JPEG outputs, 1..=100. A photo in which nothing was changed (no face restored,
    /// no boxes drawn) is copied byte for byte instead, whatever its format.
    #[arg(long, value_name = "Q", default_value_t = DEFAULT_JPEG_QUALITY,
          value_parser = clap::value_parser!(u8).range(1..=100))]
    pub jpeg_quality: u8,
    /// Whole photos: draw detected boxes and keypoints on the output.
    #[arg(long)]
    pub draw_boxes: bool,
    /// Fidelity of a version-2 model: a weight W in 0..=1 (0 = pure DAEFR codebook restoration,
    /// 1 = closest to the input) or `auto` (each face's weight from its own sharpness, on the
    /// model's `daefr.fidelity_auto` curve). Default: `auto` when the model has that curve, else
    /// its `daefr.fidelity_default`.
    #[arg(short = 'w', long, value_name = "W|auto")]
    pub fidelity: Option<Fidelity>,
    /// Whole photos: blend B in 0..=1 of the restored face with the original after paste-back
    /// (1 = fully restored, 0 = the original).
    #[arg(long, value_name = "B", value_parser = super::unit_weight, default_value_t = 1.0)]
    pub blend: f32,
    /// Whole photos: what is pasted back. `change` (default) adds the restoration's change
    /// (restored - model input) to the original face at the photo's own resolution; `replace`
    /// pastes the model's output itself (upsampled from the model size).
    #[arg(long, value_name = "MODE", default_value = "change")]
    pub paste: daefr::align::PasteMode,
    /// Allow the output to be the input itself (the same file, or the input directory): the
    /// originals are replaced by their restorations.
    #[arg(long)]
    pub in_place: bool,
    /// Overwrite output files that already exist (other than the input; see --in-place).
    #[arg(long)]
    pub force: bool,
    /// Directory input: also restore the photos in its subfolders, mirrored under -o (symbolic
    /// links to folders are not followed; -o, --compare and --save-faces inside it are left out).
    #[arg(short = 'r', long)]
    pub recursive: bool,
    /// Directory input: name each output STEM + TEXT + .EXT (e.g. `_restored`). With a suffix
    /// the output directory may be the input directory; inputs already ending in it are skipped.
    #[arg(long, value_name = "TEXT", value_parser = suffix)]
    pub suffix: Option<String>,
    /// Leave out inputs whose output already exists (instead of refusing; --force replaces them).
    #[arg(long, conflicts_with_all = ["force", "in_place"])]
    pub skip_existing: bool,
    /// Also write each input and its restoration side by side (input | restored) into DIR,
    /// under the output's name.
    #[arg(long, value_name = "DIR")]
    pub compare: Option<PathBuf>,
    /// Write a JSON report to FILE (`-`: standard output): per photo its faces (box, score,
    /// keypoints, restored or skipped and why) and milliseconds per stage.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Whole photos: restore only one face: `largest`, `center`, or an index N (0 = the
    /// detector's best score; `--json` lists them in that order).
    #[arg(long, value_name = "WHICH")]
    pub only: Option<FaceSelection>,
    /// Whole photos: the detector's score threshold in 0..=1 (default 0.5; a face it is less
    /// sure of is not reported).
    #[arg(long, value_name = "S", value_parser = super::unit_weight)]
    pub min_score: Option<f32>,
    /// Whole photos: run the detector on the whole photo only. By default a photo larger than
    /// four detector inputs (1024 px for long-range) is also searched in overlapping tiles, so
    /// that small faces in big photos are found (at most 64 tiles; `-v` says how many).
    #[arg(long)]
    pub no_tiles: bool,
    /// Directory input: restore N files at once, each worker with its own model plan (and
    /// detector). Default: the cores available, at most one per file. Workers x --threads never
    /// exceed the cores: --threads alone sets workers to cores / threads, and --threads is
    /// lowered (with a warning) when both are given and would oversubscribe.
    #[arg(long, value_name = "N", value_parser = super::worker_count)]
    pub workers: Option<usize>,
}

/// clap parser of `--suffix`: text that stays inside a file name.
fn suffix(text: &str) -> Result<String, String> {
    if text.contains(['/', '\\', '\0']) {
        return Err(format!("{text:?}: a suffix cannot hold a path separator"));
    }
    Ok(text.to_string())
}

/// Runs `daefr restore`.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let streaming = stream::is_stream(&args);
    let from_stdin = streaming && args.input.as_os_str() == "-";
    if !from_stdin && !args.input.exists() {
        if std::fs::symlink_metadata(&args.input).is_ok() {
            bail!(
                "{}: a symbolic link that leads nowhere (dangling, or a loop)",
                args.input.display()
            );
        }
        bail!("{}: no such file or directory", args.input.display());
    }
    warn_unused_flags(&args);
    if streaming {
        stream::check(&args)?;
        let settings = Settings::for_command(&flags(&args, global), None, photo_needs(), 1)?;
        return stream::run(&args, &settings);
    }
    let (jobs, existing) = jobs::leave_out_existing(&args, jobs::list_jobs(&args)?);
    if existing > 0 {
        crate::note!("{existing} input(s) left out: their output exists (--skip-existing)");
    }
    jobs::check_overwrites(&args, &jobs)?;
    jobs::check_save_faces(&args, &jobs)?;
    let mut json = match &args.json {
        Some(path) => Some(JsonReport::create(path, write_options(&args).replace)?),
        None => None,
    };
    let needs = if args.aligned {
        Needs::Restorer
    } else {
        photo_needs()
    };
    let settings = Settings::for_command(&flags(&args, global), None, needs, jobs.len())?;
    let workers = settings.workers;
    let in_dir = args.input.is_dir();
    if in_dir && jobs.is_empty() && existing == 0 {
        return Err(no_images(&args.input));
    }
    let code = if !args.aligned {
        restore_photos(&settings, &args, &jobs, json.as_mut())
    } else {
        restore_crops(&settings, &args, &jobs, json.as_mut())
    };
    if let Some(json) = json {
        json.write(&settings.model)?;
    }
    if let Some((_, peak_mb)) = daefr::live::stats::memory_mb() {
        log::debug!("peak RSS {peak_mb:.0} MiB with {workers} worker(s)");
    }
    code
}

/// What the command line says, for [`Settings::resolve`].
fn flags(args: &Args, global: &Global) -> Flags {
    Flags {
        model: args.model.clone(),
        detector: args.detector_model.clone(),
        detector_kind: args.detector,
        threads: global.threads,
        workers: args.workers,
        fidelity: args.fidelity,
        no_cache: args.no_cache,
        min_score: args.min_score,
        no_tiles: args.no_tiles,
    }
}

/// Whole photos and videos need the detector, long-range BlazeFace unless told otherwise.
fn photo_needs() -> Needs {
    Needs::Detector {
        default_kind: DetectorKind::LongRange,
    }
}

/// Warns about flags that do nothing in this mode (whole photos vs `--aligned` crops) instead of
/// ignoring them silently. Flags left at their defaults are not named.
fn warn_unused_flags(args: &Args) {
    let mut unused = Vec::new();
    if args.aligned {
        if args.blend != 1.0 {
            unused.push("--blend");
        }
        if args.paste != daefr::align::PasteMode::default() {
            unused.push("--paste");
        }
        if args.save_faces.is_some() {
            unused.push("--save-faces");
        }
        if args.draw_boxes {
            unused.push("--draw-boxes");
        }
        if args.min_face != daefr::photo::DEFAULT_MIN_FACE {
            unused.push("--min-face");
        }
        if args.only.is_some() {
            unused.push("--only");
        }
        if args.min_score.is_some() {
            unused.push("--min-score");
        }
        if args.no_tiles {
            unused.push("--no-tiles");
        }
    } else if args.keep_size {
        unused.push("--keep-size");
    }
    if !args.input.is_dir() {
        let file_only: [(&str, bool); 3] = [
            ("-r", args.recursive),
            ("--suffix", args.suffix.is_some()),
            ("--skip-existing", args.skip_existing),
        ];
        let named: Vec<&str> = file_only.iter().filter(|f| f.1).map(|f| f.0).collect();
        if !named.is_empty() {
            log::warn!(
                "{} applies to a directory input; ignored for one file",
                named.join(", ")
            );
        }
    }
    if !unused.is_empty() {
        let mode = if args.aligned {
            "with --aligned (crops)"
        } else {
            "without --aligned (whole photos)"
        };
        log::warn!("{} has no effect {mode}; ignored", unused.join(", "));
    }
}

/// Resizes an aligned crop to `size` x `size` (warns when it is not square).
fn to_model_input(face: RgbImage, size: u32, path: &Path) -> RgbImage {
    if face.width() == size && face.height() == size {
        return face;
    }
    if face.width() != face.height() {
        log::warn!(
            "{}: {}x{} is not square; stretching to {size}x{size}",
            path.display(),
            face.width(),
            face.height()
        );
    }
    imageops::resize(&face, size, size, FilterType::CatmullRom)
}

/// Restores one aligned crop (`job.input`) into `job.output` (and its side-by-side).
fn restore_file(restorer: &Restorer, job: &Job, args: &Args) -> anyhow::Result<()> {
    let input = job.input.as_path();
    let _one_at_a_time = one_at_a_time_if_large(input);
    let face = read_rgb(input)?;
    let (width, height) = face.dimensions();
    let model_input = to_model_input(face, restorer.input_size(), input);
    let restored = restorer
        .restore(&model_input)
        .with_context(|| format!("{}", input.display()))?;
    let restored = if args.keep_size && (width, height) != restored.dimensions() {
        imageops::resize(&restored, width, height, FilterType::CatmullRom)
    } else {
        restored
    };
    write_output(&job.output, &restored, args)?;
    if let Some(compare) = &job.compare {
        let before = imageops::resize(
            &model_input,
            restored.width(),
            restored.height(),
            FilterType::CatmullRom,
        );
        write_output(compare, &side_by_side(&before, &restored), args)?;
    }
    Ok(())
}

/// `left | right` on one canvas (black where the heights differ).
fn side_by_side(left: &RgbImage, right: &RgbImage) -> RgbImage {
    let mut canvas = RgbImage::new(
        left.width() + right.width(),
        left.height().max(right.height()),
    );
    imageops::replace(&mut canvas, left, 0, 0);
    imageops::replace(&mut canvas, right, i64::from(left.width()), 0);
    canvas
}

/// True when `input` and `output` name the same image format (by extension).
fn same_format(input: &Path, output: &Path) -> bool {
    matches!(
        (image::ImageFormat::from_path(input), image::ImageFormat::from_path(output)),
        (Ok(a), Ok(b)) if a == b
    )
}

/// Writes a photo in which nothing changed as a byte-for-byte copy of its input (with the same
/// refusal rules as any output): no re-encoding, EXIF and ICC kept.
fn copy_untouched(input: &Path, output: &Path, args: &Args) -> anyhow::Result<()> {
    if same_file::is_same_file(input, output).unwrap_or(false) {
        return Ok(()); // --in-place on an untouched photo: nothing to do
    }
    written(output, copy_file_with(input, output, &write_options(args)))
}

/// How outputs are written: `--jpeg-quality`, and whether an existing file may be replaced.
fn write_options(args: &Args) -> WriteOptions {
    WriteOptions {
        replace: if args.force || args.in_place {
            Replace::Allow
        } else {
            Replace::Refuse
        },
        jpeg_quality: args.jpeg_quality,
    }
}

/// Writes one output. Without `--force` or `--in-place` the rename into place refuses a file
/// that appeared at `output` after the start-up check (another run writing the same path).
fn write_output(output: &Path, image: &RgbImage, args: &Args) -> anyhow::Result<()> {
    written(output, write_rgb_with(output, image, &write_options(args)))
}

/// [`write_output`] carrying the input photo's colour profile and EXIF block (JPEG, PNG).
fn write_photo(
    output: &Path,
    image: &RgbImage,
    args: &Args,
    metadata: &ImageMetadata,
) -> anyhow::Result<()> {
    written(
        output,
        write_rgb_with_metadata(output, image, &write_options(args), metadata),
    )
}

/// The result of writing `output`, with a file that appeared there meanwhile said plainly.
fn written(output: &Path, result: daefr::Result<()>) -> anyhow::Result<()> {
    match result {
        Err(e) if matches!(e.kind(), daefr::Error::Io { source } if source.kind() == std::io::ErrorKind::AlreadyExists) =>
        {
            bail!(
                "{}: a file appeared there while restoring (another run?); not replaced, pass --force to replace it",
                output.display()
            )
        }
        result => Ok(result?),
    }
}

/// The error for a directory run with nothing to restore (nothing is created).
fn no_images(dir: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: no {} files in this directory",
        dir.display(),
        daefr::image_io::IMAGE_FORMATS
    )
}

/// A progress bar over `len` files called `what` (hidden with `-q`, and where stderr is not a
/// terminal).
fn progress_bar(len: usize, what: &str) -> ProgressBar {
    if super::quiet() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    let template = format!("{{bar:40}} {{pos}}/{{len}} {what}, {{elapsed}} elapsed, eta {{eta}}");
    bar.set_style(
        ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Creates the output directory of a directory run.
fn create_output_dir(args: &Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("{}: cannot create output directory", args.output.display()))
}

/// `--aligned`: restores every crop on `workers` workers (one shared plan, a run state each).
fn restore_crops(
    settings: &Settings,
    args: &Args,
    jobs: &[Job],
    json: Option<&mut JsonReport>,
) -> anyhow::Result<ExitCode> {
    let restorers = settings.load_restorers(settings.workers)?;
    let work = |restorer: &mut Restorer, job: &Job| {
        let start = Instant::now();
        restore_file(restorer, job, args).map(|()| start.elapsed())
    };
    let done = |job: &Job, elapsed: Duration, _: &ProgressBar| report::crop_json(job, elapsed);
    run_jobs(args, jobs, restorers, FileKind::Crops, json, work, done)
}

/// The photo options of one photo whose `--save-faces` folder is `save_faces`.
fn photo_options(args: &Args, save_faces: Option<PathBuf>) -> daefr::photo::PhotoOptions {
    daefr::photo::PhotoOptions {
        min_face: args.min_face,
        save_faces,
        draw_boxes: args.draw_boxes,
        paste: args.paste,
        blend_amount: args.blend,
        only: args.only,
        ..daefr::photo::PhotoOptions::default()
    }
}

/// Whole-photo mode (no `--aligned`): detect, align, restore and paste back every face of a photo,
/// or of every photo in a directory on `workers` workers (shared plans, a run state each). A photo
/// without a face is written unchanged.
fn restore_photos(
    settings: &Settings,
    args: &Args,
    jobs: &[Job],
    json: Option<&mut JsonReport>,
) -> anyhow::Result<ExitCode> {
    let states = settings.load_pipelines(settings.workers)?;
    let work = |pipeline: &mut FacePipeline, job: &Job| restore_one_photo(job, pipeline, args);
    let done = |job: &Job, found: PhotoReport, bar: &ProgressBar| {
        bar.suspend(|| found.print(job, args.min_face));
        found.json(job, args.min_face)
    };
    run_jobs(args, jobs, states, FileKind::Photos, json, work, done)
}

/// What a run's files are: aligned crops (a directory run ends with one count line) or whole
/// photos (each has its own line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Crops,
    Photos,
}

impl FileKind {
    /// The files, in words.
    fn noun(self) -> &'static str {
        match self {
            FileKind::Crops => "images",
            FileKind::Photos => "photos",
        }
    }
}

/// Runs `work` over `jobs` on one worker per state, with a progress bar over a directory's
/// files of `kind`. `done` says what one success was (and returns its `--json` entry).
/// In a directory a bad file is reported and skipped, and the exit code says so at the end; a
/// single file's error is returned. A stop signal finishes the files in flight (130 / 143).
fn run_jobs<S: Send, R: Send>(
    args: &Args,
    jobs: &[Job],
    states: Vec<S>,
    kind: FileKind,
    mut json: Option<&mut JsonReport>,
    work: impl Fn(&mut S, &Job) -> anyhow::Result<R> + Sync,
    mut done: impl FnMut(&Job, R, &ProgressBar) -> serde_json::Value,
) -> anyhow::Result<ExitCode> {
    let in_dir = args.input.is_dir();
    let stop = super::signals::StopSignals::install()?;
    if in_dir {
        create_output_dir(args)?;
    }
    let bar = progress_bar(if in_dir { jobs.len() } else { 0 }, kind.noun());
    let mut failed = 0usize;
    let mut only_error = None;
    let started = super::pool::run_until(jobs, states, &stop.flag, work, |job, result| {
        let entry = match result {
            Ok(found) => done(job, found, &bar),
            Err(e) => {
                let entry = report::failed_json(job, &e);
                if in_dir {
                    failed += 1;
                    bar.suspend(|| crate::say!("daefr: {}", super::one_line(&e)));
                } else {
                    only_error = Some(e);
                }
                entry
            }
        };
        if let Some(json) = json.as_deref_mut() {
            json.push(entry);
        }
        bar.inc(1);
    });
    bar.finish_and_clear();
    if let Some(e) = only_error {
        return Err(e);
    }
    if in_dir && kind == FileKind::Crops {
        crate::note!(
            "restored {} of {} images into {}",
            started - failed,
            jobs.len(),
            args.output.display()
        );
    }
    if let Some(code) = stop.exit_code(started, jobs.len()) {
        return Ok(code);
    }
    if failed > 0 {
        bail!(
            "{failed} of {} {} failed (see messages above)",
            jobs.len(),
            kind.noun()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Photos above this many pixels are processed one at a time whatever the worker count.
const ONE_AT_A_TIME_PIXELS: u64 = 12_000_000;

/// Held while a large photo is processed (see [`ONE_AT_A_TIME_PIXELS`]).
static LARGE_PHOTO: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// For an image above [`ONE_AT_A_TIME_PIXELS`] (by its header), the guard that makes the other
/// workers' large images wait; `None` for a small or unreadable one (the reader reports it).
fn one_at_a_time_if_large(input: &Path) -> Option<std::sync::MutexGuard<'static, ()>> {
    let large = daefr::image_io::header_dimensions(input)
        .is_some_and(|(w, h)| u64::from(w) * u64::from(h) > ONE_AT_A_TIME_PIXELS);
    large.then(|| LARGE_PHOTO.lock().unwrap_or_else(|p| p.into_inner()))
}

/// Restores every face of one photo file and writes the result (and its side-by-side).
fn restore_one_photo(
    job: &Job,
    pipeline: &mut FacePipeline,
    args: &Args,
) -> anyhow::Result<PhotoReport> {
    let (input, output) = (job.input.as_path(), job.output.as_path());
    // Workers decode, restore and encode large photos one at a time: each probe for memory then
    // sees what the others really hold (two 49-MP photos on two workers aborted the process).
    let _one_at_a_time = one_at_a_time_if_large(input);
    let start = Instant::now();
    let (photo, metadata) = read_rgb_with_metadata(input)?;
    let decode = start.elapsed();
    let options = photo_options(args, job.crops.clone());
    let mut times = StageTimes::default();
    let result = pipeline
        .run_timed(&photo, &options, &mut times)
        .with_context(|| format!("{}", input.display()))?;
    let start = Instant::now();
    let untouched = result.restored() == 0 && !options.draw_boxes && result.image == photo;
    let copied = untouched && same_format(input, output);
    if copied {
        copy_untouched(input, output, args)?;
    } else {
        write_photo(output, &result.image, args, &metadata)?;
    }
    if let Some(compare) = &job.compare {
        write_output(compare, &side_by_side(&photo, &result.image), args)?;
    }
    let encode: Duration = start.elapsed();
    Ok(PhotoReport {
        size: photo.dimensions(),
        faces: result.faces,
        times,
        decode,
        encode,
        copied,
    })
}

//! `daefr restore`: restore every face of a whole photo (detect, align, restore, paste back), or
//! with `--aligned` one aligned face crop; or every PNG/JPEG in a directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use daefr::atomic::Replace;
use daefr::image_io::{
    copy_file_with, has_image_extension, read_rgb, write_rgb_with, WriteOptions,
    DEFAULT_JPEG_QUALITY,
};
use daefr::model::{Fidelity, Restorer};
use image::imageops::{self, FilterType};
use image::RgbImage;
use indicatif::{ProgressBar, ProgressStyle};

use super::settings::{Flags, Needs, Settings};
use super::Global;
use daefr::detect::DetectorKind;
use daefr::photo::{FaceOutcome, FacePipeline};

/// Arguments of `daefr restore`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// An image file, or a directory of PNG/JPEG files.
    pub input: PathBuf,
    /// Output file (for a file input) or directory (for a directory input; created if missing).
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
    /// `$DAEFR_DETECTOR` when set, else long-range.
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
    /// Directory input: restore N files at once, each worker with its own model plan (and
    /// detector). Default: the cores available, at most one per file. Workers x --threads never
    /// exceed the cores: --threads alone sets workers to cores / threads, and --threads is
    /// lowered (with a warning) when both are given and would oversubscribe.
    #[arg(long, value_name = "N", value_parser = super::worker_count)]
    pub workers: Option<usize>,
}

/// One file to restore: the input and where its restoration goes.
type Job = (PathBuf, PathBuf);

/// Runs `daefr restore`.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    if !args.input.exists() {
        if std::fs::symlink_metadata(&args.input).is_ok() {
            bail!(
                "{}: a symbolic link that leads nowhere (dangling, or a loop)",
                args.input.display()
            );
        }
        bail!("{}: no such file or directory", args.input.display());
    }
    warn_unused_flags(&args);
    let jobs = list_jobs(&args)?;
    check_overwrites(&args, &jobs)?;
    check_save_faces(&args, &jobs)?;
    let flags = Flags {
        model: args.model.clone(),
        detector: args.detector_model.clone(),
        detector_kind: args.detector,
        threads: global.threads,
        workers: args.workers,
        fidelity: args.fidelity,
        no_cache: args.no_cache,
    };
    let needs = if args.aligned {
        Needs::Restorer
    } else {
        Needs::Detector {
            default_kind: DetectorKind::LongRange,
        }
    };
    let cores = super::available_cores();
    let settings = Settings::resolve(&flags, None, needs, cores, jobs.len())?;
    settings.log(cores);
    let workers = settings.workers;
    let code = if !args.aligned {
        restore_photos(&settings, &args, &jobs)
    } else if args.input.is_dir() {
        restore_dir(&settings, &args, &jobs)
    } else {
        settings
            .load_restorer()
            .and_then(|r| restore_file(&r, &args.input, &args.output, &args))
            .map(|()| ExitCode::SUCCESS)
    };
    if let Some(kib) = super::pool::peak_rss_kib() {
        log::debug!("peak RSS {} MiB with {workers} worker(s)", kib / 1024);
    }
    code
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
    } else if args.keep_size {
        unused.push("--keep-size");
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

/// The files to restore: every image directly inside a directory input (each written under
/// `-o` with its own name, sorted by name), or the one file.
fn list_jobs(args: &Args) -> anyhow::Result<Vec<Job>> {
    if !args.input.is_dir() {
        return Ok(vec![(args.input.clone(), args.output.clone())]);
    }
    Ok(list_images(&args.input)?
        .into_iter()
        .map(|input| {
            let output = args.output.join(input.file_name().unwrap_or_default());
            (input, output)
        })
        .collect())
}

/// Why writing `output` needs a flag: it is `input` itself (`--in-place`), or another existing
/// file (`--force`). `None`: it may be written.
fn overwrite_refusal(input: &Path, output: &Path, args: &Args) -> Option<&'static str> {
    if !output.is_file() {
        return None;
    }
    if same_file::is_same_file(input, output).unwrap_or(false) {
        (!args.in_place).then_some("is the input itself; pass --in-place to replace it")
    } else {
        (!args.force).then_some("already exists; pass --force to overwrite it")
    }
}

/// Refuses, before any work, to overwrite an input unless `--in-place` or an existing output
/// unless `--force` (symlinks and `./` spellings are resolved: same file, same answer). `jobs`
/// are [`list_jobs`]'s (input, output) pairs.
fn check_overwrites(args: &Args, jobs: &[Job]) -> anyhow::Result<()> {
    let dir = args.input.is_dir();
    if dir && !args.in_place && same_file::is_same_file(&args.input, &args.output).unwrap_or(false)
    {
        bail!(
            "{}: the output directory is the input directory; pass --in-place to replace the originals",
            args.output.display()
        );
    }
    let refused: Vec<(&PathBuf, &str)> = jobs
        .iter()
        .filter_map(|(input, output)| {
            overwrite_refusal(input, output, args).map(|why| (output, why))
        })
        .collect();
    match refused.first() {
        None => Ok(()),
        Some((output, why)) if !dir => bail!("{}: {why}", output.display()),
        Some((first, why)) => bail!(
            "{} of {} outputs would overwrite a file ({}: {why})",
            refused.len(),
            jobs.len(),
            first.display()
        ),
    }
}

/// The `--save-faces` folder of each job: `DIR` itself for one photo; with several, `DIR/STEM`,
/// or `DIR/NAME` (the whole file name) for photos that share a stem (`a.png` and `a.jpg`), so that
/// no two photos write into one folder.
fn crop_dirs(args: &Args, jobs: &[Job]) -> Vec<Option<PathBuf>> {
    let Some(dir) = &args.save_faces else {
        return vec![None; jobs.len()];
    };
    if jobs.len() <= 1 {
        return vec![Some(dir.clone()); jobs.len()];
    }
    let stem = |p: &Path| p.file_stem().unwrap_or_default().to_owned();
    let mut per_stem = std::collections::HashMap::new();
    for (input, _) in jobs {
        *per_stem.entry(stem(input)).or_insert(0usize) += 1;
    }
    jobs.iter()
        .map(|(input, _)| {
            let name = if per_stem[&stem(input)] > 1 {
                input.file_name().unwrap_or_default().to_owned()
            } else {
                stem(input)
            };
            Some(dir.join(name))
        })
        .collect()
}

/// True for a file name `--save-faces` writes (`face-NN-aligned.png`, `face-NN-restored.png`).
fn is_crop_name(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with("face-") && (name.ends_with("-aligned.png") || name.ends_with("-restored.png"))
}

/// Refuses, before any work, a `--save-faces` folder that holds a photo being restored under a
/// crop's name (never replaced, not even with `--force`) or crops of an earlier run (replaced only
/// with `--force`).
fn check_save_faces(args: &Args, jobs: &[Job]) -> anyhow::Result<()> {
    for ((input, _), dir) in jobs.iter().zip(crop_dirs(args, jobs)) {
        let Some(dir) = dir else { continue };
        let in_dir = input.parent().is_some_and(|parent| {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            same_file::is_same_file(parent, &dir).unwrap_or(false)
        });
        if in_dir && input.file_name().is_some_and(is_crop_name) {
            bail!(
                "{}: --save-faces {} would write its crops over this input photo; choose another folder",
                input.display(),
                dir.display()
            );
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let old = entries
            .filter_map(|e| e.ok())
            .find(|e| is_crop_name(&e.file_name()));
        if let (Some(old), false) = (old, args.force) {
            bail!(
                "{}: --save-faces would overwrite the crops of an earlier run; pass --force to overwrite them",
                old.path().display()
            );
        }
    }
    Ok(())
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

/// Restores one aligned crop from `input` into `output`.
fn restore_file(
    restorer: &Restorer,
    input: &Path,
    output: &Path,
    args: &Args,
) -> anyhow::Result<()> {
    let keep_size = args.keep_size;
    let _one_at_a_time = one_at_a_time_if_large(input);
    let face = read_rgb(input)?;
    let (width, height) = face.dimensions();
    let model_input = to_model_input(face, restorer.input_size(), input);
    let restored = restorer
        .restore(&model_input)
        .with_context(|| format!("{}", input.display()))?;
    let restored = if keep_size && (width, height) != restored.dimensions() {
        imageops::resize(&restored, width, height, FilterType::CatmullRom)
    } else {
        restored
    };
    write_output(output, &restored, args)
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

/// Image files directly inside `dir`, sorted by name. An entry named like an image that is not a
/// readable file (a dangling or looping link, a folder, a device) is skipped with a warning.
fn list_images(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))?;
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for entry in entries {
        let path = entry.with_context(|| format!("{}", dir.display()))?.path();
        if !has_image_extension(&path) {
            continue;
        }
        if path.is_file() {
            files.push(path);
        } else {
            skipped.push(path);
        }
    }
    skipped.sort();
    for path in &skipped {
        let why = if path.is_symlink() && !path.exists() {
            "a symbolic link that leads nowhere (dangling, or a loop)"
        } else {
            "not a regular file"
        };
        log::warn!("{}: {why}; skipped", path.display());
    }
    files.sort();
    Ok(files)
}

/// The error for a directory run with nothing to restore (nothing is created).
fn no_images(dir: &Path) -> anyhow::Error {
    anyhow::anyhow!("{}: no PNG or JPEG files in this directory", dir.display())
}

/// A progress bar over `len` faces.
fn progress_bar(len: usize) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} faces, {per_sec}, eta {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Creates the output directory of a directory run.
fn create_output_dir(args: &Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("{}: cannot create output directory", args.output.display()))
}

/// `--aligned` with a directory: restores every crop on `workers` workers (one shared plan, a run
/// state each), with a progress bar; bad files are reported and skipped.
fn restore_dir(settings: &Settings, args: &Args, jobs: &[Job]) -> anyhow::Result<ExitCode> {
    if jobs.is_empty() {
        return Err(no_images(&args.input));
    }
    let stop = super::signals::StopSignals::install()?;
    let restorers = settings.load_restorers(settings.workers)?;
    create_output_dir(args)?;
    let bar = progress_bar(jobs.len());
    let mut failed = 0usize;
    let started = super::pool::run_until(
        jobs,
        restorers,
        &stop.flag,
        |restorer, (input, output)| restore_file(restorer, input, output, args),
        |_, result| {
            if let Err(e) = result {
                failed += 1;
                bar.suspend(|| crate::say!("daefr: {}", super::one_line(&e)));
            }
            bar.inc(1);
        },
    );
    bar.finish_and_clear();
    let done = started - failed;
    crate::say!(
        "restored {done} of {} images into {}",
        jobs.len(),
        args.output.display()
    );
    if let Some(code) = stop.exit_code(started, jobs.len()) {
        return Ok(code);
    }
    if failed > 0 {
        bail!(
            "{failed} of {} images failed (see messages above)",
            jobs.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The photo options of one photo whose `--save-faces` folder is `save_faces` ([`crop_dirs`]).
fn photo_options(args: &Args, save_faces: Option<PathBuf>) -> daefr::photo::PhotoOptions {
    daefr::photo::PhotoOptions {
        min_face: args.min_face,
        save_faces,
        draw_boxes: args.draw_boxes,
        paste: args.paste,
        blend_amount: args.blend,
        ..daefr::photo::PhotoOptions::default()
    }
}

/// Whole-photo mode (no `--aligned`): detect, align, restore and paste back every face of a photo,
/// or of every photo in a directory on `workers` workers (shared plans, a run state each). A photo
/// without a face is written unchanged.
fn restore_photos(settings: &Settings, args: &Args, jobs: &[Job]) -> anyhow::Result<ExitCode> {
    let in_dir = args.input.is_dir();
    if in_dir && jobs.is_empty() {
        return Err(no_images(&args.input));
    }
    let stop = super::signals::StopSignals::install()?;
    let states = settings.load_pipelines(settings.workers)?;
    if in_dir {
        create_output_dir(args)?;
    }
    let photos: Vec<(&Job, Option<PathBuf>)> = jobs.iter().zip(crop_dirs(args, jobs)).collect();
    let mut failed = 0usize;
    let mut only_error = None;
    let started = super::pool::run_until(
        &photos,
        states,
        &stop.flag,
        |pipeline, ((input, output), crops)| {
            restore_one_photo(input, output, pipeline, args, crops.clone())
        },
        |((input, output), _), result| match result {
            Ok(found) => found.print(input, output),
            // One bad photo of a directory is reported and skipped; the rest are still done.
            Err(e) if in_dir => {
                failed += 1;
                crate::say!("daefr: {}", super::one_line(&e));
            }
            Err(e) => only_error = Some(e),
        },
    );
    if let Some(e) = only_error {
        return Err(e);
    }
    if let Some(code) = stop.exit_code(started, jobs.len()) {
        return Ok(code);
    }
    if failed > 0 {
        bail!(
            "{failed} of {} photos failed (see messages above)",
            jobs.len()
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

/// What was found in one photo, printed by the calling thread.
struct PhotoReport {
    faces: usize,
    restored: usize,
    /// Why the faces that were not restored were left alone, as `(count, reason)`.
    skipped: Vec<(usize, String)>,
}

impl PhotoReport {
    /// The photo's lines on stderr: a warning without a face, then the counts.
    fn print(&self, input: &Path, output: &Path) {
        if self.faces == 0 {
            crate::say!(
                "daefr: warning: {}: no face found; written unchanged",
                input.display()
            );
        }
        let why: Vec<String> = self
            .skipped
            .iter()
            .map(|(n, reason)| format!("{n} {reason}"))
            .collect();
        let why = if why.is_empty() {
            String::new()
        } else {
            format!(" ({})", why.join(", "))
        };
        crate::say!(
            "{}: {} face(s) found, {} restored{why} -> {}",
            input.display(),
            self.faces,
            self.restored,
            output.display()
        );
    }
}

/// Restores every face of one photo file and writes the result.
fn restore_one_photo(
    input: &Path,
    output: &Path,
    pipeline: &mut FacePipeline,
    args: &Args,
    crops: Option<PathBuf>,
) -> anyhow::Result<PhotoReport> {
    // Workers decode, restore and encode large photos one at a time: each probe for memory then
    // sees what the others really hold (two 49-MP photos on two workers aborted the process).
    let _one_at_a_time = one_at_a_time_if_large(input);
    let photo = read_rgb(input)?;
    let options = photo_options(args, crops);
    let result = pipeline
        .run(&photo, &options)
        .with_context(|| format!("{}", input.display()))?;
    let untouched = result.restored() == 0 && !options.draw_boxes && result.image == photo;
    if untouched && same_format(input, output) {
        copy_untouched(input, output, args)?;
    } else {
        write_output(output, &result.image, args)?;
    }
    let count = |outcome: FaceOutcome| result.faces.iter().filter(|(_, o)| *o == outcome).count();
    let skipped = [
        (
            count(FaceOutcome::TooSmall),
            format!("narrower than --min-face {} px", args.min_face),
        ),
        (count(FaceOutcome::Unalignable), "not alignable".to_string()),
        (
            count(FaceOutcome::OverLimit),
            "over the face limit".to_string(),
        ),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .collect();
    Ok(PhotoReport {
        faces: result.faces.len(),
        restored: result.restored(),
        skipped,
    })
}

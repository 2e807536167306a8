//! `daefr restore`: restore every face of a whole photo (detect, align, restore, paste back), or
//! with `--aligned` one aligned face crop; or every PNG/JPEG in a directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use daefr::image_io::{has_image_extension, read_rgb, write_rgb};
use daefr::model::Restorer;
use image::imageops::{self, FilterType};
use image::RgbImage;
use indicatif::{ProgressBar, ProgressStyle};

use super::{load_options, model_path_or_default, Global};

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
    /// Model file (.onnx or .nnef.tar); default: the bundled models/daefr-lite-128.onnx.
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Resize each output back to its input's size (default: output at the model's size).
    #[arg(long)]
    pub keep_size: bool,
    /// Load the .onnx file itself even when a fresh NNEF cache sits next to it.
    #[arg(long)]
    pub no_cache: bool,
    /// Whole photos: face detector, `long-range` (256 px input, small faces in group photos) or
    /// `short-range` (128 px, faces filling much of the picture).
    #[arg(long, value_name = "KIND", default_value = "long-range")]
    pub detector: daefr::detect::DetectorKind,
    /// Whole photos: detector model file (default: the bundled BlazeFace for --detector).
    #[arg(long, value_name = "PATH")]
    pub detector_model: Option<PathBuf>,
    /// Whole photos: faces narrower than this many pixels are left as they are.
    #[arg(long, value_name = "PX", default_value_t = daefr::photo::DEFAULT_MIN_FACE)]
    pub min_face: f32,
    /// Whole photos: write each aligned face and its restored crop into DIR.
    #[arg(long, value_name = "DIR")]
    pub save_faces: Option<PathBuf>,
    /// Whole photos: draw detected boxes and keypoints on the output.
    #[arg(long)]
    pub draw_boxes: bool,
    /// Fidelity weight W in 0..=1 of a version-2 model: 0 = pure DAEFR codebook restoration,
    /// 1 = closest to the input (default: the model's `daefr.fidelity_default`).
    #[arg(short = 'w', long, value_name = "W", value_parser = super::unit_weight)]
    pub fidelity: Option<f32>,
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
}

/// Runs `daefr restore`.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    if !args.input.exists() {
        bail!("{}: no such file or directory", args.input.display());
    }
    check_overwrites(&args)?;
    let model = model_path_or_default(args.model.clone())?;
    let options = daefr::model::LoadOptions {
        fidelity: args.fidelity,
        ..load_options(global, args.no_cache)
    };
    let restorer = Restorer::load(&model, &options)?;
    log::info!(
        "model {} ({}, {}x{}) loaded in {:?}",
        restorer.model_path().display(),
        restorer.format(),
        restorer.input_size(),
        restorer.input_size(),
        restorer.load_time()
    );
    if !args.aligned {
        return restore_photos(&restorer, &args);
    }
    if args.input.is_dir() {
        restore_dir(&restorer, &args)
    } else {
        restore_file(&restorer, &args.input, &args.output, args.keep_size)?;
        Ok(ExitCode::SUCCESS)
    }
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
/// unless `--force` (symlinks and `./` spellings are resolved: same file, same answer).
fn check_overwrites(args: &Args) -> anyhow::Result<()> {
    if !args.input.is_dir() {
        if let Some(why) = overwrite_refusal(&args.input, &args.output, args) {
            bail!("{}: {why}", args.output.display());
        }
        return Ok(());
    }
    if !args.in_place && same_file::is_same_file(&args.input, &args.output).unwrap_or(false) {
        bail!(
            "{}: the output directory is the input directory; pass --in-place to replace the originals",
            args.output.display()
        );
    }
    let inputs = list_images(&args.input)?;
    let refused: Vec<(PathBuf, &str)> = inputs
        .iter()
        .filter_map(|input| {
            let output = args.output.join(input.file_name().unwrap_or_default());
            overwrite_refusal(input, &output, args).map(|why| (output, why))
        })
        .collect();
    if let Some((first, why)) = refused.first() {
        bail!(
            "{} of {} outputs would overwrite a file ({}: {why})",
            refused.len(),
            inputs.len(),
            first.display()
        );
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
pub fn restore_file(
    restorer: &Restorer,
    input: &Path,
    output: &Path,
    keep_size: bool,
) -> anyhow::Result<()> {
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
    write_rgb(output, &restored)?;
    Ok(())
}

/// Image files directly inside `dir`, sorted by name.
fn list_images(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.with_context(|| format!("{}", dir.display()))?.path();
        if path.is_file() && has_image_extension(&path) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn restore_dir(restorer: &Restorer, args: &Args) -> anyhow::Result<ExitCode> {
    let files = list_images(&args.input)?;
    if files.is_empty() {
        bail!(
            "{}: no PNG or JPEG files in this directory",
            args.input.display()
        );
    }
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("{}: cannot create output directory", args.output.display()))?;
    let bar = ProgressBar::new(files.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} faces, {per_sec}, eta {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut failed = 0usize;
    for input in &files {
        let name = input.file_name().unwrap_or_default();
        let output = args.output.join(name);
        if let Err(e) = restore_file(restorer, input, &output, args.keep_size) {
            failed += 1;
            bar.suspend(|| eprintln!("daefr: {}", super::one_line(&e)));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let done = files.len() - failed;
    eprintln!(
        "restored {done} of {} images into {}",
        files.len(),
        args.output.display()
    );
    if failed > 0 {
        bail!(
            "{failed} of {} images failed (see messages above)",
            files.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Whole-photo mode (no `--aligned`): detect, align, restore and paste back every face of a photo,
/// or of every photo in a directory. A photo without a face is written unchanged.
fn restore_photos(restorer: &Restorer, args: &Args) -> anyhow::Result<ExitCode> {
    use daefr::detect::{detector_path, BlazeFace, DetectorOptions};
    use daefr::photo::PhotoOptions;

    let detector_file = match &args.detector_model {
        Some(path) => path.clone(),
        None => detector_path(args.detector).with_context(|| {
            format!(
                "bundled {} BlazeFace model not found; pass --detector-model PATH",
                args.detector
            )
        })?,
    };
    let mut detector = BlazeFace::load(&detector_file, &DetectorOptions::default())?;
    let jobs: Vec<(PathBuf, PathBuf)> = if args.input.is_dir() {
        std::fs::create_dir_all(&args.output).with_context(|| {
            format!("{}: cannot create output directory", args.output.display())
        })?;
        list_images(&args.input)?
            .into_iter()
            .map(|input| {
                let output = args.output.join(input.file_name().unwrap_or_default());
                (input, output)
            })
            .collect()
    } else {
        vec![(args.input.clone(), args.output.clone())]
    };
    let several = jobs.len() > 1;
    let mut failed = 0usize;
    for (input, output) in &jobs {
        let save_faces = args
            .save_faces
            .as_ref()
            .map(|dir| match (several, input.file_stem()) {
                (true, Some(stem)) => dir.join(stem),
                _ => dir.clone(),
            });
        let options = PhotoOptions {
            min_face: args.min_face,
            save_faces,
            draw_boxes: args.draw_boxes,
            paste: args.paste,
            blend_amount: args.blend,
            ..PhotoOptions::default()
        };
        // One bad photo is reported and skipped; the rest are still processed.
        if let Err(e) = restore_one_photo(input, output, &mut detector, restorer, &options) {
            if !args.input.is_dir() {
                return Err(e);
            }
            failed += 1;
            eprintln!("daefr: {}", super::one_line(&e));
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} photos failed (see messages above)",
            jobs.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Restores every face of one photo file and writes the result.
fn restore_one_photo(
    input: &Path,
    output: &Path,
    detector: &mut daefr::detect::BlazeFace,
    restorer: &Restorer,
    options: &daefr::photo::PhotoOptions,
) -> anyhow::Result<()> {
    let photo = read_rgb(input)?;
    let result = daefr::photo::restore_photo(&photo, detector, restorer, options)
        .with_context(|| format!("{}", input.display()))?;
    if result.faces.is_empty() {
        eprintln!(
            "daefr: warning: {}: no face found; written unchanged",
            input.display()
        );
    }
    write_rgb(output, &result.image)?;
    eprintln!(
        "{}: {} face(s) found, {} restored -> {}",
        input.display(),
        result.faces.len(),
        result.restored(),
        output.display()
    );
    Ok(())
}

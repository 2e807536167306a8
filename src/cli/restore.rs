//! `daefr restore`: restore one aligned face crop, or every PNG/JPEG in a directory.

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
}

/// Runs `daefr restore`.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    if !args.aligned {
        // Hook for issue 4: call daefr::photo::restore_photo here once it exists.
        bail!("whole-photo mode needs face detection; pass --aligned for aligned face crops");
    }
    if !args.input.exists() {
        bail!("{}: no such file or directory", args.input.display());
    }
    let model = model_path_or_default(args.model.clone())?;
    let restorer = Restorer::load(&model, &load_options(global, args.no_cache))?;
    log::info!(
        "model {} ({}, {}x{}) loaded in {:?}",
        restorer.model_path().display(),
        restorer.format(),
        restorer.input_size(),
        restorer.input_size(),
        restorer.load_time()
    );
    if args.input.is_dir() {
        restore_dir(&restorer, &args)
    } else {
        restore_file(&restorer, &args.input, &args.output, args.keep_size)?;
        Ok(ExitCode::SUCCESS)
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
            bar.suspend(|| eprintln!("daefr: {e:#}"));
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

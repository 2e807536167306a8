//! `daefr convert`: ONNX -> tract NNEF archive (the fast-loading cache).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::bail;
use daefr::model::cache::{cache_path_for, write_nnef, NNEF_SUFFIX};

use super::settings::{Flags, Settings};
use super::Global;

/// Arguments of `daefr convert`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// ONNX model; default: the bundled models/daefr-lite-128-int8.onnx.
    pub model: Option<PathBuf>,
    /// Output archive, ending in `.nnef.tar` and not the model itself; default: `<stem>.nnef.tar`
    /// next to the model, which `restore` then picks up automatically.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Runs `daefr convert`.
pub fn run(args: Args, _global: &Global) -> anyhow::Result<ExitCode> {
    let model = Settings::for_one_plan(&Flags {
        model: args.model,
        ..Flags::default()
    })?
    .model;
    let output = args.output.unwrap_or_else(|| cache_path_for(&model));
    check_output(&model, &output)?;
    // A signal while converting lets the conversion finish (or fail) and clean up its temporary
    // file, then exits 130/143: never a half-written `.NAME.XXXXXX.tmp` left beside the model.
    let stop = super::signals::StopSignals::install()?;
    let start = Instant::now();
    write_nnef(&model, &output)?;
    crate::note!(
        "wrote {} from {} in {:.2?}",
        output.display(),
        model.display(),
        start.elapsed()
    );
    Ok(stop.exit_code(1, 1).unwrap_or(ExitCode::SUCCESS))
}

/// Refuses an output that would replace the model, or that is not named like an NNEF archive.
fn check_output(model: &Path, output: &Path) -> anyhow::Result<()> {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if !name.ends_with(NNEF_SUFFIX) || name.len() == NNEF_SUFFIX.len() {
        bail!(
            "{}: the output must be a file name ending in {NNEF_SUFFIX} (it is a tract NNEF archive)",
            output.display()
        );
    }
    if output == model || same_file::is_same_file(model, output).unwrap_or(false) {
        bail!(
            "{}: the output is the model itself; choose another -o",
            output.display()
        );
    }
    Ok(())
}

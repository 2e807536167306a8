//! `daefr convert`: ONNX -> tract NNEF archive (the fast-loading cache).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use daefr::model::cache::{cache_path_for, write_nnef};

use super::{model_path_or_default, Global};

/// Arguments of `daefr convert`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// ONNX model; default: the bundled models/daefr-lite-128.onnx.
    pub model: Option<PathBuf>,
    /// Output archive; default: `<stem>.nnef.tar` next to the model, which `restore` then
    /// picks up automatically.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Runs `daefr convert`.
pub fn run(args: Args, _global: &Global) -> anyhow::Result<ExitCode> {
    let model = model_path_or_default(args.model)?;
    let output = args.output.unwrap_or_else(|| cache_path_for(&model));
    let start = Instant::now();
    write_nnef(&model, &output)?;
    eprintln!(
        "wrote {} from {} in {:.2?}",
        output.display(),
        model.display(),
        start.elapsed()
    );
    Ok(ExitCode::SUCCESS)
}

//! Subcommands of the `daefr` binary. Each lives in its own module with an `Args` struct (clap
//! derive) and a `run(args, &Global) -> anyhow::Result<ExitCode>` function.
//!
//! To add a command: add `pub mod <name>;`, a variant to [`Command`] and an arm to [`dispatch`].

pub mod bench;
pub mod bench_model;
pub mod convert;
pub mod inspect;
pub mod restore;
pub mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Offline DAEFR face restoration for small ARM boards.
#[derive(Debug, Parser)]
#[command(name = "daefr", version, about)]
pub struct Cli {
    /// Options shared by all commands.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by all commands.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Threads for the network's matrix kernels (default 1).
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Restore aligned face crops (a file or a directory of PNG/JPEG files).
    Restore(restore::Args),
    /// Print a model's inputs, outputs, metadata, operator counts and MACs.
    Inspect(inspect::Args),
    /// Convert an ONNX model to a tract NNEF archive that loads faster (the kiosk cache).
    Convert(convert::Args),
    /// Time the network alone (used by benches/side_by_side.py).
    #[command(hide = true)]
    BenchModel(bench_model::Args),
    /// Live mode: camera -> detect + track -> restore -> display, per a board profile.
    Run(run::Args),
    /// Time each stage (preprocess, detect, align, restore, paste) on this board, for a profile.
    Bench(bench::Args),
}

/// An error and its causes on one line, joined by ": ". A cause whose text its parent already
/// ends with (our errors print their I/O cause inline) is not repeated.
pub fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Runs the chosen command.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut global = cli.global;
    // Resolved once here so every command reports the count it really uses.
    global.threads = global.threads.map(daefr::model::cap_threads);
    match cli.command {
        Command::Restore(args) => restore::run(args, &global),
        Command::Inspect(args) => inspect::run(args, &global),
        Command::Convert(args) => convert::run(args, &global),
        Command::BenchModel(args) => bench_model::run(args, &global),
        Command::Run(args) => run::run(args, &global),
        Command::Bench(args) => bench::run(args, &global),
    }
}

/// The model given with `--model`, or the bundled default.
pub fn model_path_or_default(model: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match model {
        Some(p) => Ok(p),
        None => Ok(daefr::model::require_default_model()?),
    }
}

/// Load options from the global flags and `--no-cache` (fidelity: the model's default).
pub fn load_options(global: &Global, no_cache: bool) -> daefr::model::LoadOptions {
    daefr::model::LoadOptions {
        threads: global.threads,
        use_cache: !no_cache,
        fidelity: None,
    }
}

/// clap parser of a weight in `0..=1` (`--fidelity`, `--blend`): a clear message otherwise.
pub fn unit_weight(text: &str) -> Result<f32, String> {
    let w: f32 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number; expected a weight in 0..=1"))?;
    if w.is_finite() && (0.0..=1.0).contains(&w) {
        Ok(w)
    } else {
        Err(format!("{text} is outside 0..=1"))
    }
}

/// clap parser of a number of seconds (`--duration`): finite and above zero.
pub fn positive_seconds(text: &str) -> Result<f64, String> {
    let s: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(s.is_finite() && s > 0.0) {
        return Err(format!(
            "{text} is not a positive, finite number of seconds"
        ));
    }
    std::time::Duration::try_from_secs_f64(s)
        .map(|_| s)
        .map_err(|_| format!("{text} seconds is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_must_be_positive_and_finite() {
        assert_eq!(positive_seconds("2.5"), Ok(2.5));
        for bad in ["0", "-1", "nan", "inf", "1e300", "abc", ""] {
            assert!(positive_seconds(bad).is_err(), "{bad} accepted");
        }
    }
}

//! `daefr bench-model` (hidden): load time and per-run time of the network alone, for
//! `benches/side_by_side.py`. Prints one JSON object on stdout.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use daefr::model::Restorer;

use super::settings::{Flags, Settings};
use super::Global;

/// Arguments of `daefr bench-model`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model file; default: the bundled model.
    pub model: Option<PathBuf>,
    /// Timed runs (after `--warmup` untimed ones).
    #[arg(long, default_value_t = 20)]
    pub iters: usize,
    /// Untimed warm-up runs.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
    /// Load the .onnx file itself even when a fresh NNEF cache sits next to it.
    #[arg(long)]
    pub no_cache: bool,
    /// Also time these fidelity weights (comma-separated, e.g. `0.3,0.8`) on the same plan, one
    /// run of each in turn per iteration, and report each weight's median.
    #[arg(long, value_name = "W,W,...", value_delimiter = ',', value_parser = super::unit_weight)]
    pub fidelity: Vec<f32>,
}

/// Runs `daefr bench-model`.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let settings = Settings::for_one_plan(&Flags {
        model: args.model.clone(),
        threads: global.threads,
        no_cache: args.no_cache,
        ..Flags::default()
    })?;
    let start = Instant::now();
    let restorer = Restorer::load(&settings.model, &settings.load)?;
    let load_ms = start.elapsed().as_secs_f64() * 1e3;
    restorer.time_runs(args.warmup)?;
    let mut runs: Vec<f64> = restorer
        .time_runs(args.iters.max(1))?
        .iter()
        .map(|d| d.as_secs_f64() * 1e3)
        .collect();
    runs.sort_by(f64::total_cmp);
    let median = runs[runs.len() / 2];
    let mean = runs.iter().sum::<f64>() / runs.len() as f64;
    let per_weight = time_weights(&restorer, &args.fidelity, args.iters.max(1))?;
    println!(
        "{{\"model\": {:?}, \"format\": \"{}\", \"threads\": {}, \"load_ms\": {load_ms:.2}, \"iters\": {}, \"median_ms\": {median:.3}, \"mean_ms\": {mean:.3}, \"min_ms\": {:.3}, \"fidelity_median_ms\": {{{per_weight}}}}}",
        restorer.model_path().display().to_string(),
        restorer.format(),
        settings.threads(),
        runs.len(),
        runs[0]
    );
    Ok(ExitCode::SUCCESS)
}

/// Interleaved runs at each weight on the one plan; `"w": median_ms` pairs as JSON members.
fn time_weights(restorer: &Restorer, weights: &[f32], iters: usize) -> anyhow::Result<String> {
    if weights.is_empty() {
        return Ok(String::new());
    }
    if restorer.fidelity().is_none() {
        anyhow::bail!("--fidelity: this model (contract version 1) has no fidelity input");
    }
    let mut times = vec![Vec::with_capacity(iters); weights.len()];
    for _ in 0..iters {
        for (w, t) in weights.iter().zip(times.iter_mut()) {
            let run = restorer.time_runs_at(1, Some(*w))?;
            t.extend(run.iter().map(|d| d.as_secs_f64() * 1e3));
        }
    }
    let members: Vec<String> = weights
        .iter()
        .zip(times.iter_mut())
        .map(|(w, t)| {
            t.sort_by(f64::total_cmp);
            format!("\"{w}\": {:.3}", t[t.len() / 2])
        })
        .collect();
    Ok(members.join(", "))
}

//! `daefr inspect`: what a model file holds (I/O, metadata, operators, cost).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use daefr::detect::{BlazeFace, DetectorOptions};
use daefr::model::describe::{sidecar_path, KEY_DESCRIBED_BY};
use daefr::model::load::{
    format_of, load_any, load_onnx_plain, read_onnx_metadata, GraphSummary, ModelFormat,
};

use daefr::model::Restorer;

use super::settings::{Flags, Settings};
use super::Global;

/// Arguments of `daefr inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model file (.onnx or .nnef.tar); default: the bundled model.
    pub model: Option<PathBuf>,
    /// Also run the optimized network N times and print where the time goes (per node and per
    /// operator; `--threads` applies).
    #[arg(long, value_name = "N")]
    pub profile: Option<usize>,
    /// With `--profile`: list every node of the plan in execution order, not just the 25 slowest
    /// (to class them, e.g. against onnxruntime's profile: benches/ort_profile.py).
    #[arg(long, requires = "profile")]
    pub all_nodes: bool,
}

/// Runs `daefr inspect`.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let settings = Settings::for_one_plan(&Flags {
        model: args.model,
        threads: global.threads,
        ..Flags::default()
    })?;
    let path = settings.model.clone();
    let profile = args.profile;
    println!("model: {} ({})", path.display(), format_of(&path));
    if format_of(&path) == ModelFormat::Onnx {
        // Shown before validation so a model that fails the contract still shows what it has.
        let raw = read_onnx_metadata(&path)?;
        print_metadata(raw.iter());
        if !raw.contains_key(FORMAT_VERSION_KEY) && !sidecar_path(&path).is_file() {
            return inspect_foreign(&path);
        }
    }
    let (loaded, meta) = load_any(&path)?;
    if loaded.format == ModelFormat::Nnef {
        print_metadata(meta.raw.iter());
    } else if let Some(sidecar) = meta.get(KEY_DESCRIBED_BY) {
        println!("described by {sidecar}:");
        print_metadata(meta.raw.iter());
    }
    println!("load (read + type + declutter): {:.1?}", loaded.load_time);
    let graph = loaded.summary()?;
    print_io(&graph);
    println!(
        "template (model-input px): right_eye {:?} left_eye {:?} nose_tip {:?} mouth_center {:?}",
        meta.template.right_eye,
        meta.template.left_eye,
        meta.template.nose_tip,
        meta.template.mouth_center
    );
    match (meta.fidelity_default, &meta.fidelity_auto) {
        (Some(w), Some(curve)) => println!(
            "fidelity: input `weight` [1] in 0..=1 (contract {}), default auto: per face from its \
             sharpness on the curve {curve} (daefr.fidelity_auto); fixed fallback {w} \
             (daefr.fidelity_default)",
            meta.format_version
        ),
        (Some(w), None) => println!(
            "fidelity: input `weight` [1] in 0..=1 (contract {}), default {w} (daefr.fidelity_default)",
            meta.format_version
        ),
        (None, _) => println!(
            "fidelity: none (contract {}: pure DAEFR, no `weight` input)",
            meta.format_version
        ),
    }
    print_cost(&graph, "face", meta.get("daefr.macs"));
    if let Some(iters) = profile {
        print_profile(&settings, iters, args.all_nodes)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The key whose presence makes an ONNX file a daefr restorer.
const FORMAT_VERSION_KEY: &str = "daefr.format_version";

/// `inspect` of an ONNX file without daefr metadata: what the graph declares and costs, and
/// whether it is a BlazeFace detector the runtime can use.
fn inspect_foreign(path: &Path) -> anyhow::Result<ExitCode> {
    let loaded = load_onnx_plain(path)?;
    println!("load (read + type + declutter): {:.1?}", loaded.load_time);
    let graph = loaded.summary()?;
    print_io(&graph);
    print_cost(&graph, "run", None);
    match BlazeFace::load(path, &DetectorOptions::default()) {
        Ok(detector) => println!(
            "kind: BlazeFace face detector, {0}x{0} input (restore --detector-model, profile model.detector)",
            detector.input_size()
        ),
        Err(e) => println!(
            "kind: not a daefr restorer (no {FORMAT_VERSION_KEY}) and not a BlazeFace detector ({})",
            super::one_line(&e.into())
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// Inputs and outputs, by the file's names.
fn print_io(graph: &GraphSummary) {
    for (i, input) in graph.inputs.iter().enumerate() {
        println!("input {i}: {} {}", input.name, input.fact);
    }
    for (i, output) in graph.outputs.iter().enumerate() {
        println!("output {i}: {} {}", output.name, output.fact);
    }
}

/// Parameters, MACs per `unit` (and those the toolchain `declared`) and the operator table.
fn print_cost(graph: &GraphSummary, unit: &str, declared: Option<&str>) {
    let stats = &graph.stats;
    println!("parameters: {:.2} M", stats.params as f64 / 1e6);
    println!(
        "MACs per {unit} (tract cost model): {} ({:.3} G)",
        stats.macs,
        stats.macs as f64 / 1e9
    );
    if let Some(declared) = declared {
        println!("MACs declared by the toolchain (daefr.macs): {declared}");
    }
    println!("operators ({} nodes, decluttered graph):", graph.nodes);
    let mut ops: Vec<_> = stats.op_counts.iter().collect();
    ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (op, count) in ops {
        let macs = stats.macs_by_op.get(op).copied().unwrap_or(0);
        if macs > 0 {
            println!("  {op:<24} {count:>5}   {:.3} GMAC", macs as f64 / 1e9);
        } else {
            println!("  {op:<24} {count:>5}");
        }
    }
}

/// Per-node and per-operator time of the optimized plan over `iters` runs.
fn print_profile(settings: &Settings, iters: usize, all_nodes: bool) -> anyhow::Result<()> {
    let restorer = Restorer::load(&settings.model, &settings.load)?;
    let size = restorer.input_size();
    let face = image::RgbImage::from_fn(size, size, |x, y| {
        image::Rgb([(x * 255 / size) as u8, (y * 255 / size) as u8, 128])
    });
    restorer.restore(&face)?; // warm-up
    let iters = iters.max(1);
    let nodes = restorer.profile(&face, iters)?;
    let total: f64 = nodes.iter().map(|n| n.time.as_secs_f64()).sum();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3 / iters as f64;
    println!(
        "profile: {} ({}), {} thread(s), {iters} run(s): {:.2} ms per face in {} nodes",
        restorer.model_path().display(),
        restorer.format(),
        settings.threads(),
        total * 1e3 / iters as f64,
        nodes.len()
    );
    let mut by_op: std::collections::BTreeMap<&str, (usize, f64)> = Default::default();
    for n in &nodes {
        let e = by_op.entry(n.op.as_str()).or_default();
        e.0 += 1;
        e.1 += n.time.as_secs_f64();
    }
    let mut by_op: Vec<_> = by_op.into_iter().collect();
    by_op.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
    println!("by operator (optimized plan):");
    for (op, (count, t)) in by_op {
        println!(
            "  {op:<28} {count:>5} nodes {:>9.3} ms {:>5.1}%",
            t * 1e3 / iters as f64,
            100.0 * t / total
        );
    }
    let mut listed: Vec<_> = nodes.iter().collect();
    if all_nodes {
        println!("every node, in execution order:");
    } else {
        listed.sort_by_key(|node| std::cmp::Reverse(node.time));
        listed.truncate(25);
        println!("slowest nodes:");
    }
    for n in listed {
        println!(
            "  {:>8.3} ms {:>5.1}%  {} [{}] {}",
            ms(n.time),
            100.0 * n.time.as_secs_f64() / total,
            n.name,
            n.op,
            n.info
        );
    }
    Ok(())
}

fn print_metadata<'a>(entries: impl Iterator<Item = (&'a String, &'a String)>) {
    println!("metadata:");
    let mut any = false;
    for (k, v) in entries {
        any = true;
        println!("  {k} = {v}");
    }
    if !any {
        println!("  (none)");
    }
}

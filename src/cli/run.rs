//! `daefr run`: the live mode. Camera (or file/synthetic source) -> detect + track -> restore ->
//! display, as configured by a board profile in firmware-config/.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use daefr::capture::{open_source, FrameSource, SourceOptions, SyntheticSource};
use daefr::config::Config;
use daefr::display::{open_display, DisplayOptions};
use daefr::live::{
    run_live, DetectorStage, FaceCompositor, FaceRestorer, FrameDetector, LiveStages, LiveStats,
    ModelRestorer, TruthDetector,
};

use super::settings::{live_options, Flags, Needs, Settings};
use super::Global;

/// Arguments of `daefr run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Board profile, e.g. firmware-config/rpi5.toml.
    #[arg(long, value_name = "PATH")]
    pub config: PathBuf,
    /// Stop after capturing this many frames.
    #[arg(long, value_name = "N")]
    pub frames: Option<u64>,
    /// Stop after this many seconds (a positive number).
    #[arg(long, value_name = "S", value_parser = super::positive_seconds)]
    pub duration: Option<f64>,
    /// Write the final statistics as JSON to this file.
    #[arg(long, value_name = "PATH")]
    pub stats_json: Option<PathBuf>,
    /// Load the .onnx file itself even when a fresh NNEF cache sits next to it.
    #[arg(long)]
    pub no_cache: bool,
    /// Restorer model file (overrides the profile's `model.restorer`).
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Fidelity weight W in 0..=1 or `auto` (overrides the profile's `model.fidelity`), as in
    /// `restore`.
    #[arg(short = 'w', long, value_name = "W|auto")]
    pub fidelity: Option<daefr::model::Fidelity>,
    /// Synthetic source only: use the faces it reports instead of running the detector
    /// (benchmarks the rest of the loop).
    #[arg(long, hide = true)]
    pub truth_detector: bool,
}

/// Refuses an output path that names `input` (the same path, or the same file through a link):
/// writing the output there would destroy the input.
fn refuse_to_replace(output: &Path, input: &Path, what: &str) -> anyhow::Result<()> {
    if output == input || same_file::is_same_file(output, input).unwrap_or(false) {
        bail!(
            "--stats-json {} is {what} ({}): refusing to replace it with the statistics",
            output.display(),
            input.display()
        );
    }
    Ok(())
}

/// Runs `daefr run`.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    if let Some(stats) = &args.stats_json {
        refuse_to_replace(stats, &args.config, "the profile")?;
    }
    let config = Config::load(&args.config)?;
    // Installed first, so a signal during the (slow, on a Pi) model loading also stops cleanly.
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("cannot install the SIGINT/SIGTERM handler")?;
    }
    let flags = Flags {
        model: args.model.clone(),
        fidelity: args.fidelity,
        threads: global.threads,
        no_cache: args.no_cache,
        ..Flags::default()
    };
    let needs = Needs::live(!args.truth_detector);
    let settings = Settings::for_command(&flags, Some(&config), needs, usize::MAX)
        .with_context(|| format!("{}: [model]", args.config.display()))?;
    if let Some(stats) = &args.stats_json {
        refuse_to_replace(stats, &settings.model, "the model")?;
    }

    let mut restorers: Vec<Box<dyn FaceRestorer>> = Vec::new();
    let mut compositor = None;
    for restorer in settings
        .load_restorers(settings.workers)
        .with_context(|| format!("{}: model.restorer", args.config.display()))?
    {
        let stage = ModelRestorer::new(restorer);
        compositor.get_or_insert(stage.compositor());
        restorers.push(Box::new(stage));
    }
    let compositor: Arc<dyn FaceCompositor> =
        Arc::new(compositor.context("no restore worker could be started")?);

    let source_options = SourceOptions::from(&config.source);
    let (source, detector): (Box<dyn FrameSource>, Box<dyn FrameDetector>) = if args.truth_detector
    {
        let SourceOptions::Synthetic {
            width,
            height,
            faces,
            seed,
            fps,
        } = source_options
        else {
            bail!(
                "{}: --truth-detector needs source.kind = \"synthetic\"",
                args.config.display()
            );
        };
        let (source, truth) = SyntheticSource::new(width, height, faces, seed, fps)?.with_truth();
        (Box::new(source), Box::new(TruthDetector(truth)))
    } else {
        let detector = settings.load_detector()?;
        (
            open_source(&source_options)?,
            Box::new(DetectorStage(Box::new(detector))),
        )
    };
    let display = daefr::display::WatchdogDisplay::wrap_from_env(open_display(
        &DisplayOptions::from(&config.display),
    )?);

    let live_options = live_options(&config, args.frames, args.duration);
    let stages = LiveStages {
        source,
        detector,
        restorers,
        compositor,
        display,
    };
    let loaded = started.elapsed();
    let stats = run_live(stages, live_options, stop)?;
    report(&stats);
    match stats.first_restored_frame_s {
        Some(s) => println!(
            "start-up: profile, models, source and display ready in {:.2} s; first restored frame {:.2} s after start",
            loaded.as_secs_f64(),
            loaded.as_secs_f64() + s
        ),
        None => println!(
            "start-up: profile, models, source and display ready in {:.2} s; no restored frame shown",
            loaded.as_secs_f64()
        ),
    }
    if let Some(path) = &args.stats_json {
        let json = serde_json::to_string_pretty(&stats)?;
        daefr::atomic::write_bytes_atomically(path, json.as_bytes())
            .with_context(|| format!("{}: cannot write the statistics", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn report(s: &LiveStats) {
    println!(
        "frames: {} captured, {} shown, {} dropped ({} before detect, {} before display, {} display errors)",
        s.frames_captured,
        s.frames_shown,
        s.frames_dropped,
        s.dropped_before_detect,
        s.dropped_before_display,
        s.display_errors
    );
    println!(
        "{:.1} s, {:.1} fps shown, {} faces restored ({:.2}/s), {} restore errors, {} capture errors",
        s.wall_s,
        s.display_fps,
        s.faces_restored,
        s.restored_faces_per_s,
        s.restore_errors,
        s.capture_errors
    );
    println!(
        "ms: detect {:.1}, restore {:.1}/face, compose {:.1}, present {:.1}; latency mean {:.0} p95 {:.0}",
        s.detect.mean_ms,
        s.restore.mean_ms,
        s.compose.mean_ms,
        s.present.mean_ms,
        s.latency.mean_ms,
        s.latency.p95_ms
    );
    println!(
        "memory: peak RSS {:.0} MB, RSS at end {:.0} MB",
        s.peak_rss_mb, s.rss_mb_end
    );
}

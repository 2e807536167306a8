//! Subcommands of the `daefr` binary. Each lives in its own module with an `Args` struct (clap
//! derive) and a `run(args, &Global) -> anyhow::Result<ExitCode>` function.
//!
//! To add a command: add `pub mod <name>;`, a variant to [`Command`] and an arm to [`dispatch`].

pub mod bench;
pub mod bench_model;
pub mod bench_select;
pub mod convert;
pub mod inspect;
pub mod pool;
pub mod restore;
pub mod run;
pub mod settings;
pub mod signals;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Offline DAEFR face restoration for small ARM boards.
#[derive(Debug, Parser)]
#[command(
    name = "daefr",
    version,
    about,
    after_help = "Environment:\n  \
    DAEFR_MODEL      the restorer model used when no --model or profile names one\n  \
    DAEFR_DETECTOR   the face detector used when no flag or profile names one: a BlazeFace ONNX\n                   \
    file, or a bundled kind (short-range, long-range)\n  \
    RUST_LOG         log detail when neither -q nor -v is given: error, warn (default), info,\n                   \
    debug (tract's own crates stay at warn unless named, e.g. RUST_LOG=debug,tract_core=debug)"
)]
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
    /// Threads for the network's matrix kernels of each plan (default: `run`/`bench`: the
    /// profile's `model.threads`, else 1; lowered so that workers x threads fit the cores).
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<usize>,
    /// Print errors only: no per-file lines, summaries, progress bars or warnings.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More detail on stderr: -v adds info lines (timings, resolved settings), -vv debug lines.
    /// Either flag decides over RUST_LOG.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl Global {
    /// The log filter these flags ask for, or `None` to leave it to `RUST_LOG`.
    pub fn log_level(&self) -> Option<&'static str> {
        match (self.quiet, self.verbose) {
            (true, _) => Some("error"),
            (false, 0) => None,
            (false, 1) => Some("info"),
            (false, _) => Some("debug"),
        }
    }
}

/// Set once from `-q`: informational lines ([`note!`]) are left out.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// True when `-q` was given.
pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Restore every face of a photo or a folder of photos (--aligned: of face crops).
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
    let global = cli.global;
    QUIET.store(global.quiet, std::sync::atomic::Ordering::Relaxed);
    // Each command resolves its settings once, in `settings::Settings::for_command`.
    match cli.command {
        Command::Restore(args) => restore::run(args, &global),
        Command::Inspect(args) => inspect::run(args, &global),
        Command::Convert(args) => convert::run(args, &global),
        Command::BenchModel(args) => bench_model::run(args, &global),
        Command::Run(args) => run::run(args, &global),
        Command::Bench(args) => bench::run(args, &global),
    }
}

/// clap parser of `--workers`: a whole number of at least 1.
pub fn worker_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("0 workers would restore nothing; give 1 or more".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a number of workers (1 or more)")),
    }
}

/// clap parser of a weight in `0..=1` (`--blend`, `bench-model --fidelity`): a clear message otherwise.
pub fn unit_weight(text: &str) -> Result<f32, String> {
    let w: f32 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number; expected a weight in 0..=1"))?;
    if daefr::model::fidelity::is_unit_weight(w) {
        Ok(w)
    } else {
        Err(format!("{text} is outside 0..=1"))
    }
}

/// What `bench --detector` names: a bundled variant, or (kept working) a model file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetectorChoice {
    /// `short-range` / `long-range` (and their aliases).
    Kind(daefr::detect::DetectorKind),
    /// A file path (the older spelling of `--detector-model`).
    File(std::path::PathBuf),
}

/// clap parser of [`DetectorChoice`]: an existing file is a file, else a kind, else an error
/// that lists the kinds.
pub fn detector_choice(text: &str) -> Result<DetectorChoice, String> {
    let path = std::path::Path::new(text);
    if path.is_file() {
        return Ok(DetectorChoice::File(path.to_path_buf()));
    }
    text.parse().map(DetectorChoice::Kind).map_err(|_| {
        format!("{text:?} is neither a detector kind (short-range, long-range) nor a file; a file goes to --detector-model")
    })
}

/// Longest `--duration`: ten years. Longer ones overflow the clock (`Instant + duration`).
pub const MAX_SECONDS: f64 = 10.0 * 365.0 * 86_400.0;

/// `text` with every control character (ESC, CR, BEL, ...; not tab) written as an escape
/// (`\u{1b}`), so that a file name cannot drive the terminal it is printed on. Every line the
/// command line prints about a file goes through this.
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\t') {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() && c != '\t' {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// Prints one line on stderr, made [`terminal_safe`].
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        eprintln!("{}", $crate::cli::terminal_safe(&format!($($arg)*)))
    };
}

/// Prints one informational line on stderr, made [`terminal_safe`], unless `-q` ([`quiet`]).
/// Errors go through [`say!`], which `-q` does not silence.
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {
        if !$crate::cli::quiet() {
            $crate::say!($($arg)*)
        }
    };
}

/// clap parser of a size in pixels (`--min-face`): a finite number >= 0.
pub fn pixels(text: &str) -> Result<f32, String> {
    let px: f32 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of pixels"))?;
    if px.is_finite() && px >= 0.0 {
        Ok(px)
    } else {
        Err(format!("{text} is not a finite number of pixels >= 0"))
    }
}

/// clap parser of a number of seconds (`--duration`): finite, above zero, at most
/// [`MAX_SECONDS`].
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
    if s > MAX_SECONDS {
        return Err(format!(
            "{text} seconds is too long (at most {MAX_SECONDS} s, ten years)"
        ));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_for_the_terminal() {
        assert_eq!(terminal_safe("plain name.png"), "plain name.png");
        assert_eq!(
            terminal_safe("a\u{1b}[31mred\r.png"),
            "a\\u{1b}[31mred\\r.png"
        );
        assert_eq!(terminal_safe("tab\tok"), "tab\tok");
    }

    #[test]
    fn pixel_sizes_must_be_finite_and_not_negative() {
        assert_eq!(pixels("0"), Ok(0.0));
        assert_eq!(pixels("32.5"), Ok(32.5));
        for bad in ["nan", "-1", "inf", "px", ""] {
            assert!(pixels(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn durations_must_be_positive_and_finite() {
        assert_eq!(positive_seconds("2.5"), Ok(2.5));
        assert_eq!(positive_seconds("315360000"), Ok(MAX_SECONDS));
        for bad in [
            "0",
            "-1",
            "nan",
            "inf",
            "1e300",
            "1e19",
            "315360001",
            "abc",
            "",
        ] {
            assert!(positive_seconds(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn zero_workers_are_refused() {
        assert_eq!(worker_count("3"), Ok(3));
        for bad in ["0", "-1", "two", ""] {
            assert!(worker_count(bad).is_err(), "{bad} accepted");
        }
    }
}

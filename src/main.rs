//! The `daefr` command line: parses arguments (clap) and dispatches to `cli::<command>`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // tract's own crates log every graph pass at debug level (tens of thousands of lines): they
    // stay at warn unless RUST_LOG names them.
    let args = cli::Cli::parse();
    // -q / -v decide over RUST_LOG
    let requested = match args.global.log_level() {
        Some(level) => Ok(level.to_string()),
        None => std::env::var("RUST_LOG"),
    };
    let filter = match requested {
        Ok(spec) if !spec.trim().is_empty() && !spec.contains("tract") => format!(
            "{spec},tract_core=warn,tract_hir=warn,tract_onnx=warn,tract_onnx_opl=warn,tract_nnef=warn,tract_linalg=warn,tract_data=warn"
        ),
        Ok(spec) if !spec.trim().is_empty() => spec,
        _ => "warn".to_string(),
    };
    env_logger::Builder::new()
        .parse_filters(&filter)
        .format(|buf, record| {
            use std::io::Write;
            let level = match record.level() {
                log::Level::Warn => "warning".to_string(),
                other => other.as_str().to_ascii_lowercase(),
            };
            // a line from another crate (tract) says which
            let line = match record.target().split("::").next() {
                Some("daefr") | None => format!("daefr: {level}: {}", record.args()),
                Some(krate) => format!("daefr: {level}: {krate}: {}", record.args()),
            };
            writeln!(buf, "{}", cli::terminal_safe(&line))
        })
        .init();
    match cli::dispatch(args) {
        Ok(code) => code,
        Err(e) => {
            say!("daefr: {}", cli::one_line(&e));
            ExitCode::FAILURE
        }
    }
}

//! The `daefr` command line: parses arguments (clap) and dispatches to `cli::<command>`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format(|buf, record| {
            use std::io::Write;
            let level = match record.level() {
                log::Level::Warn => "warning".to_string(),
                other => other.as_str().to_ascii_lowercase(),
            };
            let line = format!("daefr: {level}: {}", record.args());
            writeln!(buf, "{}", cli::terminal_safe(&line))
        })
        .init();
    let args = cli::Cli::parse();
    match cli::dispatch(args) {
        Ok(code) => code,
        Err(e) => {
            say!("daefr: {}", cli::one_line(&e));
            ExitCode::FAILURE
        }
    }
}

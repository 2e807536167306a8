//! The `daefr` command line: parses arguments (clap) and dispatches to `cli::<command>`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = cli::Cli::parse();
    match cli::dispatch(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("daefr: {}", cli::one_line(&e));
            ExitCode::FAILURE
        }
    }
}

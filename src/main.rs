//! The `daefr` command line.

fn main() -> anyhow::Result<()> {
    env_logger::init();
    Ok(())
}

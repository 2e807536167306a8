//! Stop signals for the commands that write files (`restore`, `convert`): finish what is in
//! flight, start nothing new, say how far the command got. (`run` has its own handler: the live
//! loop stops within a frame.)

use std::process::ExitCode;

use anyhow::Context;

/// SIGINT and SIGTERM during `restore` or `convert`: the files in flight are finished (each write
/// is atomic), no new one is started, and the command exits 130 (SIGINT) or 143 (SIGTERM) saying
/// how far it got. A second signal of the same kind ends the process at once (exit 1).
pub struct StopSignals {
    /// Set by either signal.
    pub flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
    interrupted: std::sync::Arc<std::sync::atomic::AtomicBool>,
    terminated: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl StopSignals {
    pub fn install() -> anyhow::Result<StopSignals> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        use signal_hook::flag;
        let stop = StopSignals {
            flag: Default::default(),
            interrupted: Default::default(),
            terminated: Default::default(),
        };
        for (signal, which) in [(SIGINT, &stop.interrupted), (SIGTERM, &stop.terminated)] {
            // order matters: the shutdown check sees the flag of an earlier signal only
            flag::register_conditional_shutdown(signal, 1, which.clone())
                .and_then(|_| flag::register(signal, which.clone()))
                .and_then(|_| flag::register(signal, stop.flag.clone()))
                .context("cannot install the SIGINT/SIGTERM handlers")?;
        }
        Ok(stop)
    }

    /// After a run that started `started` of `total` jobs: the exit code if a signal stopped it.
    pub fn exit_code(&self, started: usize, total: usize) -> Option<ExitCode> {
        use std::sync::atomic::Ordering;
        let (name, code) = if self.interrupted.load(Ordering::SeqCst) {
            ("SIGINT", 130)
        } else if self.terminated.load(Ordering::SeqCst) {
            ("SIGTERM", 143)
        } else {
            return None;
        };
        if started < total {
            crate::say!(
                "daefr: stopped by {name}: {started} of {total} files done (the files in flight were finished), {} not started",
                total - started
            );
        } else {
            crate::say!("daefr: {name} received: the work in flight was finished, nothing was left to start");
        }
        Some(ExitCode::from(code))
    }
}

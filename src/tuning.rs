//! Every tract tuning switch the runtime sets, in one place: the convolution choice applied while
//! optimizing a plan (restorer and detector alike) and the matrix-kernel threads. Nothing else in
//! the crate talks to tract's knobs or executors.

use tract_linalg::multithread::{multithread_tract_scope, Executor};
use tract_onnx::prelude::TractResult;
use tract_onnx::tract_core::knobs::KnobScope;

/// Environment variable: `1` lets tract pick its direct spatial convolution, `0` forbids it
/// (default: forbidden on x86-64, tract's choice elsewhere; see [`optimize_scope`]).
pub const DIRECT_CONV_ENV: &str = "DAEFR_DIRECT_CONV";

/// Whether tract may choose `DirectSpatialConv`: `$DAEFR_DIRECT_CONV` when it is `1` or `0`, else
/// not on x86-64 and yes elsewhere.
pub fn direct_conv_allowed() -> bool {
    match std::env::var(DIRECT_CONV_ENV).ok().as_deref() {
        Some("1") => true,
        Some("0") => false,
        _ => !cfg!(target_arch = "x86_64"),
    }
}

/// The knobs to hold while a plan is optimized. tract 0.23.9 picks `DirectSpatialConv` for our
/// 3x3 convolutions on 128-px maps; on x86-64 it ran at well under half the speed of the
/// im2col + matmul path it otherwise takes (see BENCHMARKS.md), so it is disabled there. Other
/// targets keep tract's choice (unmeasured); [`DIRECT_CONV_ENV`] overrides either way.
pub(crate) fn optimize_scope() -> TractResult<KnobScope> {
    let disable = if direct_conv_allowed() {
        "false"
    } else {
        "true"
    };
    KnobScope::new([("TRACT_DISABLE_DIRECT_SPATIAL", disable)])
}

/// Threads for tract's kernels when `requested` are asked for: at most the available
/// parallelism (`std::thread::available_parallelism`); more only adds threads that wait. Warns
/// once per process when it caps.
pub fn cap_threads(requested: usize) -> usize {
    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    if requested <= available {
        return requested;
    }
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        log::warn!(
            "{requested} threads asked for, but this machine runs {available} at a time; using {available}"
        );
    });
    available
}

/// The matrix-kernel threads of one plan: single-threaded, or a pool of `n` (capped by
/// [`cap_threads`]).
#[derive(Clone, Default)]
pub(crate) struct KernelThreads(Option<Executor>);

impl KernelThreads {
    /// `threads` of `None`, `Some(0)` or `Some(1)`: single-threaded.
    pub(crate) fn new(threads: Option<usize>) -> Self {
        match threads {
            Some(n) if n > 1 => KernelThreads(Some(Executor::multithread(cap_threads(n)))),
            _ => KernelThreads(None),
        }
    }

    /// Runs `f` (a plan run) with these threads.
    pub(crate) fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.0 {
            Some(executor) => multithread_tract_scope(executor.clone(), f),
            None => f(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_are_capped_at_the_available_parallelism() {
        let available = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(cap_threads(100_000), available);
        assert_eq!(cap_threads(1), 1);
        assert_eq!(cap_threads(available), available);
    }
}

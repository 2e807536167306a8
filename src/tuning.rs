//! Every tract tuning switch the runtime sets, in one place: the convolution choice made while
//! optimizing a plan (restorer and detector alike, [`optimize`]) and the matrix-kernel threads.
//! Nothing else in the crate talks to tract's knobs or executors.

use tract_linalg::multithread::{multithread_tract_scope, Executor};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::knobs::KnobScope;
use tract_onnx::tract_core::ops::cnn::conv::DirectSpatialConv;
use tract_onnx::tract_core::ops::cnn::Conv;

/// Environment variable: `1` lets tract pick its direct spatial convolution for every layer it
/// qualifies, `0` forbids it everywhere (default: see [`DirectConv`]).
pub const DIRECT_CONV_ENV: &str = "DAEFR_DIRECT_CONV";

/// Convolutions with fewer output channels than this take tract's direct spatial convolution on
/// x86-64 by default. Measured on lite-128 (BENCHMARKS.md, "Export form of GroupNorm and per-layer
/// convolution choice"): the two 3-channel output convs at 128x128 ran 2.8x faster direct (0.48
/// vs 1.37 ms: the im2col path fills 3 of the 8 rows of its kernel tile), while the 16- and
/// 32-channel ones ran 1.4x slower.
pub const THIN_CONV_CHANNELS: usize = 8;

/// Which convolutions may become tract's `DirectSpatialConv` (tract only takes it where it
/// qualifies: f32, 3x3-like kernels over few input channels, output rows at least 128 wide).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectConv {
    /// Every qualifying convolution (tract's own choice; the default off x86-64, where it is
    /// unmeasured).
    All,
    /// Only those with fewer than [`THIN_CONV_CHANNELS`] output channels (the x86-64 default).
    Thin,
    /// None: im2col and a matrix product everywhere.
    None,
}

impl DirectConv {
    /// `$DAEFR_DIRECT_CONV` when it is `1` (All) or `0` (None), else [`DirectConv::Thin`] on
    /// x86-64 and [`DirectConv::All`] elsewhere.
    pub fn from_env() -> DirectConv {
        match std::env::var(DIRECT_CONV_ENV).ok().as_deref() {
            Some("1") => DirectConv::All,
            Some("0") => DirectConv::None,
            _ if cfg!(target_arch = "x86_64") => DirectConv::Thin,
            _ => DirectConv::All,
        }
    }
}

/// Optimizes a decluttered graph into the plan the runtime runs (restorer and detector alike),
/// with the convolution choice of [`DirectConv::from_env`].
///
/// tract's `TRACT_DISABLE_DIRECT_SPATIAL` knob holds for a whole optimization, so a per-layer
/// choice is made in two steps: the thin convolutions are lowered first with the knob off (each
/// becomes a `DirectSpatialConv` where tract qualifies it), then the rest of the graph is
/// optimized with it on.
pub(crate) fn optimize(model: TypedModel) -> TractResult<TypedModel> {
    optimize_with(model, DirectConv::from_env())
}

/// [`optimize`] with an explicit convolution choice.
fn optimize_with(mut model: TypedModel, choice: DirectConv) -> TractResult<TypedModel> {
    if choice == DirectConv::Thin {
        knobs(false)?.enter(|| lower_thin_convs(&mut model))?;
    }
    knobs(choice != DirectConv::All)?.enter(|| model.into_optimized())
}

fn knobs(disable_direct: bool) -> TractResult<KnobScope> {
    let disable = if disable_direct { "true" } else { "false" };
    KnobScope::new([("TRACT_DISABLE_DIRECT_SPATIAL", disable)])
}

/// Lowers every convolution with fewer than [`THIN_CONV_CHANNELS`] output channels whose lowering
/// tract makes a `DirectSpatialConv` (others are left for the optimizer).
fn lower_thin_convs(model: &mut TypedModel) -> TractResult<()> {
    let thin: Vec<usize> = model
        .nodes()
        .iter()
        .filter(|node| {
            node.op_as::<Conv>()
                .is_some_and(|conv| conv.output_channels() < THIN_CONV_CHANNELS)
        })
        .map(|node| node.id)
        .collect();
    for id in thin {
        let node = model.node(id);
        let Some(conv) = node.op_as::<Conv>() else {
            continue;
        };
        if let Some(patch) = conv.codegen(model, node)? {
            if patch
                .model
                .nodes()
                .iter()
                .any(|n| n.op_is::<DirectSpatialConv>())
            {
                patch.apply(model)?;
            }
        }
    }
    model.compact()?;
    Ok(())
}

/// `asked` of something (threads, workers) fitted to `cores` that run at a time: at most `cores`
/// (more only adds threads that wait), with the warning that says so when it lowers. The one rule
/// for both the library ([`cap_threads`]) and the command line's settings.
pub fn fit_to_cores(asked: usize, cores: usize, what: &str) -> (usize, Option<String>) {
    let cores = cores.max(1);
    if asked <= cores {
        return (asked, None);
    }
    let warning =
        format!("{asked} {what} asked for, but this machine runs {cores} at a time; using {cores}");
    (cores, Some(warning))
}

/// Threads for tract's kernels when `requested` are asked for: at most the available
/// parallelism (`std::thread::available_parallelism`, [`fit_to_cores`]). Warns once per process
/// when it caps (the command line has already fitted its counts, so only library callers see it).
pub fn cap_threads(requested: usize) -> usize {
    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (threads, warning) = fit_to_cores(requested, available, "threads");
    if let Some(warning) = warning {
        static WARNED: std::sync::Once = std::sync::Once::new();
        WARNED.call_once(|| log::warn!("{warning}"));
    }
    threads
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

    /// How many convolutions of the bundled fp32 model's plan are direct, per choice.
    fn direct_convs(choice: DirectConv) -> usize {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/daefr-lite-128.onnx");
        let (loaded, _) = crate::model::load::load_onnx(&path).expect("bundled model");
        let plan = optimize_with(loaded.typed, choice).expect("optimize");
        plan.nodes()
            .iter()
            .filter(|n| n.op_is::<DirectSpatialConv>())
            .count()
    }

    #[test]
    fn thin_choice_makes_only_the_thin_convolutions_direct() {
        // the bundled model (lite-128-s2d) has one 3-channel output conv at 128x128, the
        // decoder's; its residual head ends in a 12-channel conv at 64x64 (pixel-shuffled to 3
        // channels), and every other conv has 12 or more output channels.
        assert_eq!(direct_convs(DirectConv::Thin), 1);
        assert_eq!(direct_convs(DirectConv::None), 0);
        assert!(direct_convs(DirectConv::All) > 2);
    }

    #[test]
    fn threads_are_capped_at_the_available_parallelism() {
        let available = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(cap_threads(100_000), available);
        assert_eq!(cap_threads(1), 1);
        assert_eq!(cap_threads(available), available);
    }
}

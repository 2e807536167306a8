//! One way to run an optimized tract plan, for every network the runtime has (the restorer and the
//! face detector): the plan is optimized once ([`crate::tuning::optimize`]), each user holds a
//! run state of its own over the shared plan, and every run uses the matrix threads asked for
//! (`--threads`, a profile's `model.threads`).

use std::sync::{Arc, Mutex, MutexGuard};

use tract_onnx::prelude::*;

use crate::tuning::{optimize, KernelThreads};

/// An optimized plan, a run state over it and the threads its runs use. `another` makes a second
/// runner over the same plan (the weights are shared; only the activations are its own).
pub struct PlanRunner {
    state: Mutex<TypedSimpleState>,
    threads: KernelThreads,
}

impl std::fmt::Debug for PlanRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanRunner").finish_non_exhaustive()
    }
}

impl PlanRunner {
    /// Optimizes `model` for this CPU and makes a runner that runs it on `threads` matrix threads
    /// (`None`, 0 or 1: single-threaded).
    pub fn new(model: TypedModel, threads: Option<usize>) -> TractResult<PlanRunner> {
        let plan: Arc<TypedRunnableModel> = optimize(model)?.into_runnable()?;
        let state = TypedSimpleState::new(&plan)?;
        Ok(PlanRunner {
            state: Mutex::new(state),
            threads: KernelThreads::new(threads),
        })
    }

    /// A runner over the same plan with a run state of its own (for another worker).
    pub fn another(&self) -> PlanRunner {
        // A clone of a tract state is a distinct session over the same `Arc`'d plan.
        let state = self.lock().clone();
        PlanRunner {
            state: Mutex::new(state),
            threads: self.threads.clone(),
        }
    }

    /// Runs the plan on `inputs` (calls from several threads take turns on the one state).
    pub fn run(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let mut state = self.lock();
        self.threads.run(|| state.run(inputs))
    }

    /// Runs `f` on the run state with this runner's threads (profiling walks the plan node by
    /// node).
    pub fn with_state<R>(&self, f: impl FnOnce(&mut TypedSimpleState) -> R) -> R {
        let mut state = self.lock();
        self.threads.run(|| f(&mut state))
    }

    /// The state; a poisoned lock only means another thread panicked mid-run, and every run
    /// starts the state afresh, so it stays usable.
    fn lock(&self) -> MutexGuard<'_, TypedSimpleState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clone for PlanRunner {
    fn clone(&self) -> Self {
        self.another()
    }
}

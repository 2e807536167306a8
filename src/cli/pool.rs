//! A pool of worker threads for directory runs: each worker owns its state (a run state over the
//! shared model plan, a detector), and [`run_until`] has the workers pull the next job from a shared
//! index. Results travel back to the calling thread, which alone reports them, in job order:
//! messages never interleave and read the same whatever the number of workers.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Runs `work` on every job, one thread per state in `states` (none when `states` is empty:
/// nothing is done). `report` is called on the calling thread with each job and its result, in
/// job order. No worker starts a new job once `stop` is set: the jobs in flight finish (and are
/// reported), the rest are never started. Returns how many jobs were started.
pub fn run_until<J, S, R>(
    jobs: &[J],
    states: Vec<S>,
    stop: &AtomicBool,
    work: impl Fn(&mut S, &J) -> R + Sync,
    mut report: impl FnMut(&J, R),
) -> usize
where
    J: Sync,
    S: Send,
    R: Send,
{
    let next = AtomicUsize::new(0);
    let (sender, receiver) = crossbeam_channel::unbounded::<(usize, R)>();
    std::thread::scope(|scope| {
        let (next, work) = (&next, &work);
        for (worker, state) in states.into_iter().enumerate() {
            let sender = sender.clone();
            scope.spawn(move || {
                let done = drain(jobs, next, stop, state, work, |index, result| {
                    sender.send((index, result)).is_ok()
                });
                log::debug!("worker {worker}: {done} job(s)");
            });
        }
        // The loop below ends when every worker has dropped its sender.
        drop(sender);
        report_in_order(jobs, receiver, &mut report);
    });
    next.load(Ordering::Relaxed).min(jobs.len())
}

/// One worker's loop: takes job indices from `next` until none are left (or the receiver is
/// gone) and sends each result. Returns the number of jobs it did.
fn drain<J, S, R>(
    jobs: &[J],
    next: &AtomicUsize,
    stop: &AtomicBool,
    mut state: S,
    work: &impl Fn(&mut S, &J) -> R,
    send: impl Fn(usize, R) -> bool,
) -> usize {
    let mut done = 0;
    loop {
        if stop.load(Ordering::SeqCst) {
            return done;
        }
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(job) = jobs.get(index) else {
            return done;
        };
        done += 1;
        if !send(index, work(&mut state, job)) {
            return done;
        }
    }
}

/// Receives results until the channel closes and hands them to `report` in job order (a result
/// that arrives early waits for the ones before it).
fn report_in_order<J, R>(
    jobs: &[J],
    receiver: crossbeam_channel::Receiver<(usize, R)>,
    report: &mut impl FnMut(&J, R),
) {
    let mut waiting = BTreeMap::new();
    let mut due = 0usize;
    for (index, result) in receiver {
        waiting.insert(index, result);
        while let Some(result) = waiting.remove(&due) {
            if let Some(job) = jobs.get(due) {
                report(job, result);
            }
            due += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(job, job²)` as reported by a pool of `workers`, each worker's state its index.
    fn squares(jobs: &[u64], workers: usize) -> Vec<(u64, u64)> {
        let states: Vec<usize> = (0..workers).collect();
        let mut seen = Vec::new();
        run_until(
            jobs,
            states,
            &AtomicBool::new(false),
            |_worker, job| job * job,
            |job, result| seen.push((*job, result)),
        );
        seen
    }

    #[test]
    fn every_job_is_reported_once_in_order() {
        let jobs: Vec<u64> = (0..50).collect();
        let expected: Vec<(u64, u64)> = jobs.iter().map(|j| (*j, j * j)).collect();
        for workers in [1, 2, 3, 8, 80] {
            assert_eq!(squares(&jobs, workers), expected, "{workers} workers");
        }
        assert!(squares(&[], 4).is_empty());
        assert!(squares(&jobs, 0).is_empty(), "no workers, nothing done");
    }

    #[test]
    fn a_stop_lets_the_jobs_in_flight_finish_and_starts_no_other() {
        let jobs: Vec<u64> = (0..100).collect();
        let stop = AtomicBool::new(false);
        let mut seen = Vec::new();
        let started = run_until(
            &jobs,
            vec![0usize, 1],
            &stop,
            |_, job| {
                if *job == 10 {
                    stop.store(true, Ordering::SeqCst);
                }
                *job
            },
            |job, result| seen.push((*job, result)),
        );
        assert!((11..=12).contains(&started), "{started} started");
        assert_eq!(seen.len(), started, "every started job is reported");
        assert!(seen
            .iter()
            .enumerate()
            .all(|(i, (j, r))| *j == i as u64 && r == j));
    }
}

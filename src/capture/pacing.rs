//! Keeps file and synthetic sources at their nominal frame rate, like a camera would.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest single sleep while waiting for a frame: how late a stop can be noticed.
pub const STOP_POLL: Duration = Duration::from_millis(20);

/// Sleeps so that successive `wait` calls return at most `fps` times per second. When the caller
/// falls behind it does not try to catch up (a camera does not deliver old frames either). With a
/// stop flag ([`Pacer::watch_stop`]) a wait ends within [`STOP_POLL`] of the flag being set, however
/// slow the frame rate.
#[derive(Debug)]
pub struct Pacer {
    period: Option<Duration>,
    next_due: Option<Instant>,
    stop: Option<Arc<AtomicBool>>,
}

impl Pacer {
    /// `None`: no pacing, frames as fast as they can be made.
    pub fn new(fps: Option<f32>) -> Self {
        let period = fps
            .filter(|f| f.is_finite() && *f > 0.0)
            .map(|f| Duration::from_secs_f64(1.0 / f as f64));
        Self {
            period,
            next_due: None,
            stop: None,
        }
    }

    /// Ends every wait early once `stop` is set.
    pub fn watch_stop(&mut self, stop: Arc<AtomicBool>) {
        self.stop = Some(stop);
    }

    /// Blocks until the next frame is due, or the stop flag is set.
    pub fn wait(&mut self) {
        let Some(period) = self.period else { return };
        let now = Instant::now();
        let due = match self.next_due {
            Some(due) if due > now => {
                self.sleep_until(due);
                due
            }
            _ => now,
        };
        self.next_due = Some(due + period);
    }

    fn stopped(&self) -> bool {
        self.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst))
    }

    fn sleep_until(&self, due: Instant) {
        loop {
            let now = Instant::now();
            if now >= due || self.stopped() {
                return;
            }
            let left = due - now;
            std::thread::sleep(if self.stop.is_some() {
                left.min(STOP_POLL)
            } else {
                left
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_ends_a_slow_wait_at_once() {
        let mut pacer = Pacer::new(Some(0.01)); // one frame per 100 s
        let stop = Arc::new(AtomicBool::new(false));
        pacer.watch_stop(stop.clone());
        pacer.wait(); // the first frame is due at once
        let setter = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                stop.store(true, Ordering::SeqCst);
            })
        };
        let start = Instant::now();
        pacer.wait();
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "{:?}",
            start.elapsed()
        );
        setter.join().expect("setter");
    }
}

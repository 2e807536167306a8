//! Keeps file and synthetic sources at their nominal frame rate, like a camera would.

use std::time::{Duration, Instant};

/// Sleeps so that successive `wait` calls return at most `fps` times per second. When the caller
/// falls behind it does not try to catch up (a camera does not deliver old frames either).
#[derive(Debug)]
pub struct Pacer {
    period: Option<Duration>,
    next_due: Option<Instant>,
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
        }
    }

    /// Blocks until the next frame is due.
    pub fn wait(&mut self) {
        let Some(period) = self.period else { return };
        let now = Instant::now();
        let due = match self.next_due {
            Some(due) if due > now => {
                std::thread::sleep(due - now);
                due
            }
            _ => now,
        };
        self.next_due = Some(due + period);
    }
}

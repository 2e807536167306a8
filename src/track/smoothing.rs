//! The One-Euro filter (Casiez, Roussel and Vogel, CHI 2012): a low-pass filter whose cutoff
//! rises with speed, so a still face's keypoints stop jittering while a moving face is followed
//! without visible lag. Twelve lines; no crate for it is worth a dependency.

use std::f32::consts::PI;

/// One filtered coordinate.
#[derive(Debug, Clone, Copy)]
pub struct OneEuro {
    min_cutoff: f32,
    beta: f32,
    value: Option<f32>,
    speed: f32,
}

/// Cutoff of the speed estimate's own low-pass, as in the paper.
const SPEED_CUTOFF_HZ: f32 = 1.0;

fn alpha(cutoff_hz: f32, dt: f32) -> f32 {
    let tau = 1.0 / (2.0 * PI * cutoff_hz);
    1.0 / (1.0 + tau / dt)
}

impl OneEuro {
    /// `min_cutoff_hz`: cutoff at rest; `beta`: how fast the cutoff rises with speed (per px/s).
    pub fn new(min_cutoff_hz: f32, beta: f32) -> Self {
        Self {
            min_cutoff: min_cutoff_hz,
            beta,
            value: None,
            speed: 0.0,
        }
    }

    /// Filters sample `x` taken `dt` seconds after the previous one.
    pub fn filter(&mut self, x: f32, dt: f32) -> f32 {
        let Some(prev) = self.value.filter(|_| dt > 0.0 && x.is_finite()) else {
            self.value = Some(x);
            return x;
        };
        let speed = (x - prev) / dt;
        self.speed += alpha(SPEED_CUTOFF_HZ, dt) * (speed - self.speed);
        let cutoff = self.min_cutoff + self.beta * self.speed.abs();
        let filtered = prev + alpha(cutoff, dt) * (x - prev);
        self.value = Some(filtered);
        filtered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_damped_and_motion_followed() {
        let mut still = OneEuro::new(1.0, 0.02);
        let dt = 1.0 / 30.0;
        let mut spread: f32 = 0.0;
        for i in 0..60 {
            let jitter = if i % 2 == 0 { 2.0 } else { -2.0 };
            let y = still.filter(100.0 + jitter, dt);
            if i > 10 {
                spread = spread.max((y - 100.0).abs());
            }
        }
        assert!(spread < 1.0, "raw jitter 2 px, filtered {spread}");
        let mut moving = OneEuro::new(1.0, 0.02);
        let mut y = 0.0;
        for i in 0..60 {
            y = moving.filter(i as f32 * 10.0, dt);
        }
        assert!((590.0 - y) < 40.0, "lag {}", 590.0 - y);
    }
}

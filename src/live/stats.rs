//! Live-loop statistics: counters, per-stage times, capture-to-display latency, memory.
//! Fixed-size state (a 1 ms latency histogram, decimated RSS samples), so a run of months does not
//! grow it.

use serde::Serialize;

/// Latency histogram resolution: 1 ms buckets up to this, the last bucket holds the rest.
const LATENCY_BUCKETS: usize = 2000;
/// RSS is sampled every this many shown frames.
pub const RSS_EVERY: u64 = 500;
const MAX_RSS_SAMPLES: usize = 256;

/// Running mean plus a recent (exponentially weighted) value of one stage's milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StageTime {
    /// Number of samples.
    pub count: u64,
    /// Mean over the whole run.
    pub mean_ms: f64,
    /// Recent value (EMA, weight 0.1), what the overlay shows.
    #[serde(skip)]
    pub recent_ms: f64,
}

impl StageTime {
    /// Adds one sample.
    pub fn add(&mut self, ms: f64) {
        self.count += 1;
        self.mean_ms += (ms - self.mean_ms) / self.count as f64;
        self.recent_ms = if self.count == 1 {
            ms
        } else {
            self.recent_ms + 0.1 * (ms - self.recent_ms)
        };
    }
}

/// Capture-to-display latency distribution.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    buckets: Vec<u64>,
    count: u64,
    sum_ms: f64,
    max_ms: f64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            buckets: vec![0; LATENCY_BUCKETS],
            count: 0,
            sum_ms: 0.0,
            max_ms: 0.0,
        }
    }
}

impl LatencyHistogram {
    /// Adds one latency.
    pub fn add(&mut self, ms: f64) {
        let bucket = (ms.max(0.0) as usize).min(LATENCY_BUCKETS - 1);
        self.buckets[bucket] += 1;
        self.count += 1;
        self.sum_ms += ms;
        self.max_ms = self.max_ms.max(ms);
    }

    /// The `q`-quantile (0..=1) to 1 ms.
    pub fn quantile(&self, q: f64) -> f64 {
        let target = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (ms, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= target {
                return ms as f64 + 1.0;
            }
        }
        self.max_ms
    }

    /// Mean latency (0 before the first sample); cheap enough for every frame.
    pub fn mean_ms(&self) -> f64 {
        if self.count > 0 {
            self.sum_ms / self.count as f64
        } else {
            0.0
        }
    }

    /// Summary for the report (walks the histogram: once per run, not per frame).
    pub fn summary(&self) -> LatencySummary {
        LatencySummary {
            mean_ms: self.mean_ms(),
            p50_ms: self.quantile(0.5),
            p95_ms: self.quantile(0.95),
            max_ms: self.max_ms,
        }
    }
}

/// Latency figures in the final report.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct LatencySummary {
    /// Mean.
    pub mean_ms: f64,
    /// Median (1 ms resolution, upper bound).
    pub p50_ms: f64,
    /// 95th percentile (1 ms resolution, upper bound).
    pub p95_ms: f64,
    /// Worst.
    pub max_ms: f64,
}

/// Final statistics of a live run (also written by `daefr run --stats-json`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct LiveStats {
    /// Frames delivered by the source.
    pub frames_captured: u64,
    /// Frames presented on the display.
    pub frames_shown: u64,
    /// Frames replaced by a newer one before detection, before display, or lost to a display
    /// write error. frames_captured = frames_shown + frames_dropped.
    pub frames_dropped: u64,
    /// Of those, replaced before detection.
    pub dropped_before_detect: u64,
    /// Of those, replaced before display.
    pub dropped_before_display: u64,
    /// Of those, lost to display write errors.
    pub display_errors: u64,
    /// Source errors (each followed by a backoff and a reconnect).
    pub capture_errors: u64,
    /// NO SIGNAL screens shown.
    pub no_signal_screens: u64,
    /// Faces restored by the workers.
    pub faces_restored: u64,
    /// Restore jobs that failed.
    pub restore_errors: u64,
    /// Face detections over all processed frames.
    pub faces_detected: u64,
    /// Frames that showed at least one restored face.
    pub frames_with_restored_faces: u64,
    /// Seconds from the start of the loop to the first frame shown with a restored face (`None`:
    /// no such frame).
    pub first_restored_frame_s: Option<f64>,
    /// Wall time of the run in seconds.
    pub wall_s: f64,
    /// frames_shown / wall_s.
    pub display_fps: f64,
    /// faces_restored / wall_s.
    pub restored_faces_per_s: f64,
    /// Face detection per frame.
    pub detect: StageTime,
    /// One face: align + restore.
    pub restore: StageTime,
    /// Paste + overlay composition per frame.
    pub compose: StageTime,
    /// Drawing onto and presenting the display per frame.
    pub present: StageTime,
    /// Capture to presented.
    pub latency: LatencySummary,
    /// Peak resident memory (VmHWM) in MB at the end.
    pub peak_rss_mb: f64,
    /// Resident memory (VmRSS) in MB at the end.
    pub rss_mb_end: f64,
    /// (frames shown, VmRSS MB) every `RSS_EVERY` shown frames (decimated past 256 samples).
    pub rss_samples: Vec<(u64, f64)>,
}

/// Adds a `(frames_shown, VmRSS MB)` sample to `samples`, halving the resolution when the list
/// is full (see [`LiveStats::rss_samples`]).
pub fn sample_rss(samples: &mut Vec<(u64, f64)>, frames_shown: u64) {
    if let Some((rss, _)) = memory_mb() {
        if samples.len() >= MAX_RSS_SAMPLES {
            let kept: Vec<_> = samples.iter().copied().step_by(2).collect();
            *samples = kept;
        }
        samples.push((frames_shown, rss));
    }
}

/// (VmRSS, VmHWM) of this process in MB, from /proc (None elsewhere).
pub fn memory_mb() -> Option<(f64, f64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles() {
        let mut h = LatencyHistogram::default();
        for ms in 0..100 {
            h.add(ms as f64 + 0.5);
        }
        let s = h.summary();
        assert_eq!(s.p50_ms, 50.0);
        assert_eq!(s.p95_ms, 95.0);
        assert!((s.mean_ms - 50.0).abs() < 1e-9);
        h.add(1e9);
        assert_eq!(h.summary().max_ms, 1e9);
    }
}

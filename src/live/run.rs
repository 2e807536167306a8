//! The live loop: four kinds of threads joined by bounded channels.
//!
//! ```text
//! capture --latest--> detect+track+schedule --latest--> compose+display
//!                          |        ^
//!                   jobs (rendezvous)| results
//!                          v        |
//!                      restore worker(s)
//! ```
//! "latest" slots are newest-wins: a slow stage always gets the most recent frame and the stage
//! before it never waits; replaced frames are counted as dropped. A restore job is only handed
//! over when a worker is idle (rendezvous channel), so restoring never delays a frame: each frame
//! shows the last restored face of every track, pasted at the track's current, smoothed position.
//!
//! The threads only move messages: what to restore is decided by the pure
//! [`Scheduler`](crate::track::Scheduler), what to show by the pure
//! [`compose`](super::compose::compose). Each thread keeps its own counters; they travel with the
//! frames (for the overlay) and are merged into [`LiveStats`] when the threads are joined.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use image::RgbImage;

use super::compose::{compose, OverlayFigures, OverlayFlags};
use super::stages::{FaceCompositor, FaceRestorer, FrameDetector};
use super::stats::{memory_mb, sample_rss, LatencyHistogram, LiveStats, StageTime, RSS_EVERY};
use crate::capture::{Frame, FrameSource};
use crate::display::{DisplayError, DisplaySink, Overlay};
use crate::geometry::Face;
use crate::track::mailbox::{latest, LatestSender};
use crate::track::TrackerConfig;
use crate::track::{RestoreResult, Scheduler, ShownFace};

/// A failure that stops the live loop.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// A stage thread panicked.
    #[error("live pipeline: the {0} thread panicked")]
    ThreadPanicked(&'static str),
    /// A thread could not be started.
    #[error("live pipeline: cannot start the {0} thread: {1}")]
    Spawn(&'static str, std::io::Error),
    /// A file source failed too often in a row to be worth retrying.
    #[error(
        "live: {source_name} failed {failures} times in a row; giving up (last error: {last})"
    )]
    SourceGaveUp {
        /// The source, as [`FrameSource::describe`] puts it.
        source_name: String,
        /// Failures in a row.
        failures: u32,
        /// The last error.
        last: String,
    },
}

/// The stages of one live run.
pub struct LiveStages {
    /// Where frames come from.
    pub source: Box<dyn FrameSource>,
    /// Finds faces.
    pub detector: Box<dyn FrameDetector>,
    /// One restorer per worker thread.
    pub restorers: Vec<Box<dyn FaceRestorer>>,
    /// Pastes restored faces.
    pub compositor: Arc<dyn FaceCompositor>,
    /// Where frames go.
    pub display: Box<dyn DisplaySink>,
}

/// How long to wait before reopening a failed source: `initial`, doubling up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First wait after an error.
    pub initial: Duration,
    /// Longest wait between attempts.
    pub max: Duration,
}

impl Default for RetryPolicy {
    /// 250 ms, doubling up to 5 s.
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_millis(250),
            max: Duration::from_secs(5),
        }
    }
}

/// Parameters of one live run (a board profile converts into them).
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Tracking and keypoint smoothing (its `fps` is the source's nominal rate).
    pub tracking: TrackerConfig,
    /// At most this many faces per frame are restored and shown restored, the biggest first.
    pub max_faces: usize,
    /// Overlays.
    pub overlay: OverlayFlags,
    /// Source retry policy.
    pub retry: RetryPolicy,
    /// Stop after capturing this many frames.
    pub max_frames: Option<u64>,
    /// Stop after this long.
    pub max_duration: Option<Duration>,
}

impl Default for LiveOptions {
    /// A profile's defaults: 3 faces, IoU 0.3, 5 missed frames, One-Euro 1 Hz / 0.02 at 30 fps,
    /// FPS and timing overlays, 250 ms..5 s retries, no limits.
    fn default() -> Self {
        LiveOptions {
            tracking: TrackerConfig::default(),
            max_faces: 3,
            overlay: OverlayFlags::default(),
            retry: RetryPolicy::default(),
            max_frames: None,
            max_duration: None,
        }
    }
}

/// The capture thread's counters.
#[derive(Debug, Clone, Copy, Default)]
struct CaptureCounters {
    frames_captured: u64,
    dropped_before_detect: u64,
    capture_errors: u64,
}

/// The detect thread's counters (restore results are counted where they arrive).
#[derive(Debug, Clone, Copy, Default)]
struct DetectCounters {
    dropped_before_display: u64,
    faces_detected: u64,
    faces_restored: u64,
    restore_errors: u64,
    detect: StageTime,
    restore: StageTime,
}

/// The display thread's counters.
#[derive(Debug, Clone, Default)]
struct DisplayCounters {
    frames_shown: u64,
    frames_with_restored_faces: u64,
    first_restored_frame: Option<Instant>,
    no_signal_screens: u64,
    display_errors: u64,
    compose: StageTime,
    present: StageTime,
    latency: LatencyHistogram,
    rss_samples: Vec<(u64, f64)>,
}

/// What travels from capture to detection.
enum Captured {
    Frame(Frame, CaptureCounters),
    NoSignal(String),
}

/// What travels from detection to display.
enum Tracked {
    Frame {
        frame: Frame,
        faces: Vec<ShownFace>,
        upstream: (CaptureCounters, DetectCounters),
    },
    NoSignal(String),
}

struct Job {
    track: u64,
    frame: Arc<RgbImage>,
    seq: u64,
    face: Face,
}

/// Runs the loop until `stop` is set, the frame or time limit is reached, or the display window
/// is closed; then lets frames in flight drain, joins every thread and returns the statistics.
pub fn run_live(
    stages: LiveStages,
    options: LiveOptions,
    stop: Arc<AtomicBool>,
) -> Result<LiveStats, LiveError> {
    let started = Instant::now();
    let LiveStages {
        mut source,
        detector,
        restorers,
        compositor,
        display,
    } = stages;
    log::info!("live: source {}", source.describe());
    log::info!("live: display {}", display.describe());

    let (capture_tx, capture_rx) = latest::<Captured>();
    let (display_tx, display_rx) = latest::<Tracked>();
    let (job_tx, job_rx) = bounded::<Job>(0);
    let (result_tx, result_rx) = unbounded::<RestoreResult>();

    let spawn = |name: &'static str| thread::Builder::new().name(format!("daefr-{name}"));
    source.watch_stop(stop.clone());
    let capture = {
        let (stop, options) = (stop.clone(), options.clone());
        spawn("capture")
            .spawn(move || capture_loop(source, capture_tx, &options, &stop))
            .map_err(|e| LiveError::Spawn("capture", e))?
    };
    let mut workers = Vec::new();
    for (i, restorer) in restorers.into_iter().enumerate() {
        let (jobs, results) = (job_rx.clone(), result_tx.clone());
        let h = spawn("restore")
            .spawn(move || restore_loop(restorer, jobs, results))
            .map_err(|e| LiveError::Spawn("restore", e))?;
        workers.push(h);
        log::debug!("live: restore worker {i} started");
    }
    drop((job_rx, result_tx));
    let detect = {
        let options = options.clone();
        let scheduler = Scheduler::new(options.tracking, options.max_faces);
        spawn("detect")
            .spawn(move || {
                detect_loop(
                    detector, scheduler, capture_rx, job_tx, result_rx, display_tx,
                )
            })
            .map_err(|e| LiveError::Spawn("detect", e))?
    };
    let display = {
        let (stop, overlay) = (stop.clone(), options.overlay);
        spawn("display")
            .spawn(move || display_loop(display, compositor, display_rx, overlay, &stop))
            .map_err(|e| LiveError::Spawn("display", e))?
    };

    // Any thread that panicked stops the others; the first one named is reported.
    let mut panicked = None;
    let mut joined = |name: &'static str, ok: bool| {
        if !ok {
            stop.store(true, Ordering::SeqCst);
            panicked.get_or_insert(name);
        }
    };
    let captured = capture.join();
    joined("capture", captured.is_ok());
    let workers_ok = workers.into_iter().all(|h| h.join().is_ok());
    joined("restore", workers_ok);
    let detected = detect.join();
    joined("detect", detected.is_ok());
    let displayed = display.join();
    joined("display", displayed.is_ok());
    if let Some(name) = panicked {
        return Err(LiveError::ThreadPanicked(name));
    }
    let (Ok(captured), Ok(detected), Ok(displayed)) = (captured, detected, displayed) else {
        return Err(LiveError::ThreadPanicked("live"));
    };
    let (capture, source_result) = captured;
    source_result?;
    Ok(merge(capture, detected, displayed, started))
}

/// The run's statistics from each thread's own counters.
fn merge(
    capture: CaptureCounters,
    detect: DetectCounters,
    display: DisplayCounters,
    started: Instant,
) -> LiveStats {
    let mut out = LiveStats {
        frames_captured: capture.frames_captured,
        dropped_before_detect: capture.dropped_before_detect,
        capture_errors: capture.capture_errors,
        dropped_before_display: detect.dropped_before_display,
        faces_detected: detect.faces_detected,
        faces_restored: detect.faces_restored,
        restore_errors: detect.restore_errors,
        detect: detect.detect,
        restore: detect.restore,
        frames_shown: display.frames_shown,
        frames_with_restored_faces: display.frames_with_restored_faces,
        first_restored_frame_s: display
            .first_restored_frame
            .map(|at| (at - started).as_secs_f64()),
        no_signal_screens: display.no_signal_screens,
        display_errors: display.display_errors,
        compose: display.compose,
        present: display.present,
        latency: display.latency.summary(),
        rss_samples: display.rss_samples,
        wall_s: started.elapsed().as_secs_f64(),
        ..LiveStats::default()
    };
    if out.wall_s > 0.0 {
        out.display_fps = out.frames_shown as f64 / out.wall_s;
        out.restored_faces_per_s = out.faces_restored as f64 / out.wall_s;
    }
    out.frames_dropped =
        out.dropped_before_detect + out.dropped_before_display + out.display_errors;
    if let Some((rss, peak)) = memory_mb() {
        out.rss_mb_end = rss;
        out.peak_rss_mb = peak;
    }
    out
}

/// Sleeps up to `total`, waking early when `stop` is set.
fn sleep_unless_stopped(total: Duration, stop: &AtomicBool, deadline: Option<Instant>) {
    let end = Instant::now() + total;
    let end = deadline.map_or(end, |d| d.min(end));
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= end {
            return;
        }
        thread::sleep((end - now).min(Duration::from_millis(20)));
    }
}

/// Captures until stopped, out of frames or time, or until a source that allows it
/// ([`FrameSource::max_failures_in_a_row`]) failed too often in a row. Returns its counters and
/// whether the source gave up.
fn capture_loop(
    mut source: Box<dyn FrameSource>,
    out: LatestSender<Captured>,
    options: &LiveOptions,
    stop: &AtomicBool,
) -> (CaptureCounters, Result<(), LiveError>) {
    let mut counters = CaptureCounters::default();
    let deadline = options.max_duration.map(|d| Instant::now() + d);
    let RetryPolicy { initial, max } = options.retry;
    let mut backoff = initial;
    let mut failures = 0u32;
    loop {
        if stop.load(Ordering::SeqCst)
            || deadline.is_some_and(|d| Instant::now() >= d)
            || options
                .max_frames
                .is_some_and(|n| counters.frames_captured >= n)
        {
            return (counters, Ok(()));
        }
        let captured = source.next_frame();
        if stop.load(Ordering::SeqCst) {
            return (counters, Ok(())); // woken from a frame wait by the stop: nothing to show
        }
        match captured {
            Ok(image) => {
                if failures > 0 {
                    log::info!("live: source is back: {}", source.describe());
                    failures = 0;
                }
                backoff = initial;
                let frame = Frame {
                    image: Arc::new(image),
                    seq: counters.frames_captured,
                    captured_at: Instant::now(),
                };
                counters.frames_captured += 1;
                if let Some(Captured::Frame(..)) = out.send(Captured::Frame(frame, counters)) {
                    counters.dropped_before_detect += 1;
                }
            }
            Err(e) => {
                failures += 1;
                counters.capture_errors += 1;
                if source
                    .max_failures_in_a_row()
                    .is_some_and(|limit| failures >= limit)
                {
                    let gave_up = LiveError::SourceGaveUp {
                        source_name: source.describe(),
                        failures,
                        last: e.to_string(),
                    };
                    return (counters, Err(gave_up));
                }
                log::warn!("live: {e}; retrying in {} ms", backoff.as_millis());
                let detail = format!("{e}; retrying in {:.1} s", backoff.as_secs_f32());
                if let Some(Captured::Frame(..)) = out.send(Captured::NoSignal(detail)) {
                    counters.dropped_before_detect += 1;
                }
                sleep_unless_stopped(backoff, stop, deadline);
                if let Err(e) = source.reconnect() {
                    log::warn!("live: reconnect failed: {e}");
                }
                backoff = (backoff * 2).min(max);
            }
        }
    }
}

fn restore_loop(
    mut restorer: Box<dyn FaceRestorer>,
    jobs: Receiver<Job>,
    results: Sender<RestoreResult>,
) {
    for job in jobs {
        let t0 = Instant::now();
        let restored = match restorer.restore_face(&job.frame, &job.face) {
            Ok(image) => Some(Arc::new(image)),
            Err(e) => {
                log::warn!("live: restoring face of track {} failed: {e}", job.track);
                None
            }
        };
        let result = RestoreResult {
            track: job.track,
            seq: job.seq,
            restored,
            ms: t0.elapsed().as_secs_f64() * 1e3,
        };
        if results.send(result).is_err() {
            break;
        }
    }
}

/// Detects faces on each frame, feeds the scheduler and hands its restore requests to idle
/// workers; the frame and its faces go on to the display.
fn detect_loop(
    mut detector: Box<dyn FrameDetector>,
    mut scheduler: Scheduler,
    input: Receiver<Captured>,
    jobs: Sender<Job>,
    results: Receiver<RestoreResult>,
    out: LatestSender<Tracked>,
) -> DetectCounters {
    let mut counters = DetectCounters::default();
    for item in input {
        let (frame, capture) = match item {
            Captured::Frame(frame, capture) => (frame, capture),
            Captured::NoSignal(detail) => {
                if let Some(Tracked::Frame { .. }) = out.send(Tracked::NoSignal(detail)) {
                    counters.dropped_before_display += 1;
                }
                continue;
            }
        };
        let t0 = Instant::now();
        // The detector applies its own score threshold (the profile's `model.min_score`).
        let faces = detector.detect_frame(&frame).unwrap_or_else(|e| {
            log::warn!("live: detection failed on frame {}: {e}", frame.seq);
            Vec::new()
        });
        counters.detect.add(t0.elapsed().as_secs_f64() * 1e3);
        counters.faces_detected += faces.len() as u64;
        let finished: Vec<RestoreResult> = results.try_iter().collect();
        for r in &finished {
            if r.restored.is_some() {
                counters.faces_restored += 1;
                counters.restore.add(r.ms);
            } else {
                counters.restore_errors += 1;
            }
        }
        let plan = scheduler.on_frame(frame.seq, &faces, finished);
        for request in plan.requests {
            let job = Job {
                track: request.track,
                frame: frame.image.clone(),
                seq: frame.seq,
                face: request.face,
            };
            // Rendezvous: succeeds only if a worker is idle right now.
            if jobs.try_send(job).is_err() {
                break;
            }
            scheduler.started(request.track);
        }
        let tracked = Tracked::Frame {
            frame,
            faces: plan.shown,
            upstream: (capture, counters),
        };
        if let Some(Tracked::Frame { .. }) = out.send(tracked) {
            counters.dropped_before_display += 1;
        }
    }
    counters
}

/// Composes and presents every frame it gets; returns its counters.
fn display_loop(
    mut display: Box<dyn DisplaySink>,
    compositor: Arc<dyn FaceCompositor>,
    input: Receiver<Tracked>,
    flags: OverlayFlags,
    stop: &AtomicBool,
) -> DisplayCounters {
    let mut counters = DisplayCounters::default();
    let mut last_shown: Option<Instant> = None;
    let mut fps = 0.0f64;
    let mut last_size = (640, 480);
    for item in input {
        let (frame, faces, (capture, detect)) = match item {
            Tracked::NoSignal(detail) => {
                let blank = RgbImage::new(last_size.0, last_size.1);
                let overlay = Overlay {
                    no_signal: Some(detail),
                    ..Overlay::default()
                };
                if let Err(e) = display.show(&blank, &overlay) {
                    log::warn!("live: display: {e}");
                }
                counters.no_signal_screens += 1;
                continue;
            }
            Tracked::Frame {
                frame,
                faces,
                upstream,
            } => (frame, faces, upstream),
        };
        let t0 = Instant::now();
        last_size = frame.image.dimensions();
        let figures = OverlayFigures {
            fps,
            dropped: capture.dropped_before_detect + detect.dropped_before_display,
            detect_ms: detect.detect.recent_ms,
            restore_ms: detect.restore.recent_ms,
            show_ms: counters.compose.recent_ms + counters.present.recent_ms,
            latency_ms: counters.latency.mean_ms(),
        };
        let composed = compose(&frame.image, &faces, compositor.as_ref(), flags, &figures);
        counters.compose.add(t0.elapsed().as_secs_f64() * 1e3);
        let t0 = Instant::now();
        match display.show(&composed.image, &composed.overlay) {
            Ok(()) => {
                let now = Instant::now();
                counters
                    .latency
                    .add((now - frame.captured_at).as_secs_f64() * 1e3);
                if let Some(prev) = last_shown {
                    let dt = (now - prev).as_secs_f64().max(1e-6);
                    fps = if fps == 0.0 {
                        1.0 / dt
                    } else {
                        fps + 0.1 * (1.0 / dt - fps)
                    };
                }
                last_shown = Some(now);
                counters.frames_shown += 1;
                if composed.restored_faces > 0 {
                    counters.frames_with_restored_faces += 1;
                    counters.first_restored_frame.get_or_insert(now);
                }
                counters.present.add(t0.elapsed().as_secs_f64() * 1e3);
                if counters.frames_shown % RSS_EVERY == 0 {
                    sample_rss(&mut counters.rss_samples, counters.frames_shown);
                }
            }
            Err(DisplayError::Closed) => {
                log::info!("live: display closed; stopping");
                stop.store(true, Ordering::SeqCst);
                counters.display_errors += 1;
            }
            Err(e) => {
                log::warn!("live: display: {e}");
                counters.display_errors += 1;
            }
        }
    }
    counters
}

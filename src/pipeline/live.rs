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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use image::RgbImage;

use super::mailbox::{latest, LatestSender};
use super::scheduler::{eligible, refresh_order};
use super::stages::{FaceCompositor, FaceRestorer, FrameDetector};
use super::stats::{memory_mb, LatencyHistogram, LiveStats, RSS_EVERY};
use super::tracker::{Tracker, TrackerConfig};
use crate::capture::{Frame, FrameSource};
use crate::config::{FaultConfig, OverlayConfig, PipelineConfig};
use crate::detect::Face;
use crate::display::{DisplayError, DisplaySink, FaceBox, Overlay};

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

/// Parameters of one live run.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Tracking and scheduling.
    pub pipeline: PipelineConfig,
    /// Overlays.
    pub overlay: OverlayConfig,
    /// Camera retry policy.
    pub faults: FaultConfig,
    /// Minimum detector score.
    pub min_score: f32,
    /// The source's nominal frame rate (for smoothing).
    pub source_fps: f32,
    /// Stop after capturing this many frames.
    pub max_frames: Option<u64>,
    /// Stop after this long.
    pub max_duration: Option<Duration>,
}

/// What travels from capture to detection.
enum Captured {
    Frame(Frame),
    NoSignal(String),
}

/// One face as the display thread needs it.
struct ShownFace {
    face: Face,
    restored: Option<Arc<RgbImage>>,
    eligible: bool,
}

/// What travels from detection to display.
enum Tracked {
    Frame { frame: Frame, faces: Vec<ShownFace> },
    NoSignal(String),
}

struct Job {
    track: u64,
    frame: Arc<RgbImage>,
    seq: u64,
    face: Face,
}

struct JobResult {
    track: u64,
    seq: u64,
    restored: Option<Arc<RgbImage>>,
    ms: f64,
}

type SharedStats = Arc<Mutex<LiveStats>>;

fn with_stats(stats: &SharedStats, f: impl FnOnce(&mut LiveStats)) {
    if let Ok(mut s) = stats.lock() {
        f(&mut s);
    }
}

/// Runs the loop until `stop` is set, the frame or time limit is reached, or the display window
/// is closed; then lets frames in flight drain, joins every thread and returns the statistics.
pub fn run_live(
    stages: LiveStages,
    options: LiveOptions,
    stop: Arc<AtomicBool>,
) -> Result<LiveStats, LiveError> {
    let started = Instant::now();
    let stats: SharedStats = Arc::new(Mutex::new(LiveStats::default()));
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
    let (result_tx, result_rx) = unbounded::<JobResult>();

    let spawn = |name: &'static str| thread::Builder::new().name(format!("daefr-{name}"));
    let mut handles = Vec::new();
    source.watch_stop(stop.clone());
    let capture = {
        let (stats, stop, options) = (stats.clone(), stop.clone(), options.clone());
        spawn("capture")
            .spawn(move || capture_loop(source, capture_tx, &options, &stop, &stats))
            .map_err(|e| LiveError::Spawn("capture", e))?
    };
    for (i, restorer) in restorers.into_iter().enumerate() {
        let (jobs, results) = (job_rx.clone(), result_tx.clone());
        let h = spawn("restore")
            .spawn(move || restore_loop(restorer, jobs, results))
            .map_err(|e| LiveError::Spawn("restore", e))?;
        handles.push(("restore", h));
        log::debug!("live: restore worker {i} started");
    }
    drop((job_rx, result_tx));
    {
        let (stats, options) = (stats.clone(), options.clone());
        let h = spawn("detect")
            .spawn(move || {
                detect_loop(
                    detector, capture_rx, job_tx, result_rx, display_tx, &options, &stats,
                )
            })
            .map_err(|e| LiveError::Spawn("detect", e))?;
        handles.push(("detect", h));
    }
    {
        let (stats, stop, overlay) = (stats.clone(), stop.clone(), options.overlay);
        let h = spawn("display")
            .spawn(move || display_loop(display, compositor, display_rx, overlay, &stop, &stats))
            .map_err(|e| LiveError::Spawn("display", e))?;
        handles.push(("display", h));
    }

    let mut panicked = None;
    let captured = capture.join().unwrap_or_else(|_| {
        stop.store(true, Ordering::SeqCst);
        panicked = Some("capture");
        Ok(())
    });
    for (name, handle) in handles {
        if handle.join().is_err() {
            stop.store(true, Ordering::SeqCst);
            panicked.get_or_insert(name);
        }
    }
    if let Some(name) = panicked {
        return Err(LiveError::ThreadPanicked(name));
    }
    captured?;
    let mut out = stats.lock().map(|s| s.clone()).unwrap_or_default();
    out.wall_s = started.elapsed().as_secs_f64();
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
    Ok(out)
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
/// ([`FrameSource::max_failures_in_a_row`]) failed too often in a row.
fn capture_loop(
    mut source: Box<dyn FrameSource>,
    out: LatestSender<Captured>,
    options: &LiveOptions,
    stop: &AtomicBool,
    stats: &SharedStats,
) -> Result<(), LiveError> {
    let deadline = options.max_duration.map(|d| Instant::now() + d);
    let initial = Duration::from_millis(options.faults.retry_initial_ms);
    let max = Duration::from_millis(options.faults.retry_max_ms);
    let mut backoff = initial;
    let mut seq = 0u64;
    let mut failures = 0u32;
    loop {
        if stop.load(Ordering::SeqCst)
            || deadline.is_some_and(|d| Instant::now() >= d)
            || options.max_frames.is_some_and(|n| seq >= n)
        {
            return Ok(());
        }
        let captured = source.next_frame();
        if stop.load(Ordering::SeqCst) {
            return Ok(()); // woken from a frame wait by the stop: nothing more to show
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
                    seq,
                    captured_at: Instant::now(),
                    truth: source.last_truth(),
                };
                seq += 1;
                with_stats(stats, |s| s.frames_captured += 1);
                if let Some(Captured::Frame(_)) = out.send(Captured::Frame(frame)) {
                    with_stats(stats, |s| s.dropped_before_detect += 1);
                }
            }
            Err(e) => {
                failures += 1;
                with_stats(stats, |s| s.capture_errors += 1);
                if source
                    .max_failures_in_a_row()
                    .is_some_and(|limit| failures >= limit)
                {
                    return Err(LiveError::SourceGaveUp {
                        source_name: source.describe(),
                        failures,
                        last: e.to_string(),
                    });
                }
                log::warn!("live: {e}; retrying in {} ms", backoff.as_millis());
                let detail = format!("{e}; retrying in {:.1} s", backoff.as_secs_f32());
                if let Some(Captured::Frame(_)) = out.send(Captured::NoSignal(detail)) {
                    with_stats(stats, |s| s.dropped_before_detect += 1);
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
    results: Sender<JobResult>,
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
        let result = JobResult {
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

#[allow(clippy::too_many_arguments)]
fn detect_loop(
    mut detector: Box<dyn FrameDetector>,
    input: Receiver<Captured>,
    jobs: Sender<Job>,
    results: Receiver<JobResult>,
    out: LatestSender<Tracked>,
    options: &LiveOptions,
    stats: &SharedStats,
) {
    let p = &options.pipeline;
    let mut tracker = Tracker::new(TrackerConfig {
        match_iou: p.match_iou,
        max_missed: p.max_missed,
        min_cutoff_hz: p.smooth_min_cutoff_hz,
        beta: p.smooth_beta,
        fps: options.source_fps,
    });
    let max_faces = p.max_faces as usize;
    for item in input {
        let frame = match item {
            Captured::Frame(frame) => frame,
            Captured::NoSignal(detail) => {
                if let Some(Tracked::Frame { .. }) = out.send(Tracked::NoSignal(detail)) {
                    with_stats(stats, |s| s.dropped_before_display += 1);
                }
                continue;
            }
        };
        let t0 = Instant::now();
        let faces = match detector.detect_frame(&frame) {
            Ok(mut faces) => {
                faces.retain(|f| f.score >= options.min_score);
                faces
            }
            Err(e) => {
                log::warn!("live: detection failed on frame {}: {e}", frame.seq);
                Vec::new()
            }
        };
        let detect_ms = t0.elapsed().as_secs_f64() * 1e3;
        tracker.update(&faces, frame.seq);
        for r in results.try_iter() {
            with_stats(stats, |s| {
                if r.restored.is_some() {
                    s.faces_restored += 1;
                    s.restore.add(r.ms);
                } else {
                    s.restore_errors += 1;
                }
            });
            tracker.finish(r.track, r.restored, r.seq);
        }
        let picked = eligible(tracker.visible(), max_faces);
        let mut started = Vec::new();
        for id in refresh_order(&picked) {
            let Some(track) = picked.iter().find(|t| t.id == id) else {
                continue;
            };
            let job = Job {
                track: id,
                frame: frame.image.clone(),
                seq: frame.seq,
                face: track.face,
            };
            // Rendezvous: succeeds only if a worker is idle right now.
            if jobs.try_send(job).is_err() {
                break;
            }
            started.push(id);
        }
        let picked_ids: Vec<u64> = picked.iter().map(|t| t.id).collect();
        for id in started {
            tracker.set_pending(id);
        }
        let shown: Vec<ShownFace> = tracker
            .visible()
            .map(|t| ShownFace {
                face: t.face,
                restored: t.restored.as_ref().map(|(img, _)| img.clone()),
                eligible: picked_ids.contains(&t.id),
            })
            .collect();
        with_stats(stats, |s| {
            s.detect.add(detect_ms);
            s.faces_detected += faces.len() as u64;
        });
        if let Some(Tracked::Frame { .. }) = out.send(Tracked::Frame {
            frame,
            faces: shown,
        }) {
            with_stats(stats, |s| s.dropped_before_display += 1);
        }
    }
}

fn display_loop(
    mut display: Box<dyn DisplaySink>,
    compositor: Arc<dyn FaceCompositor>,
    input: Receiver<Tracked>,
    overlay_config: OverlayConfig,
    stop: &AtomicBool,
    stats: &SharedStats,
) {
    let mut latency = LatencyHistogram::default();
    let mut last_shown: Option<Instant> = None;
    let mut fps = 0.0f64;
    let mut last_size = (640, 480);
    for item in input {
        let (image, overlay, captured_at, restored_any) = match item {
            Tracked::NoSignal(detail) => {
                let blank = RgbImage::new(last_size.0, last_size.1);
                let overlay = Overlay {
                    no_signal: Some(detail),
                    ..Overlay::default()
                };
                if let Err(e) = display.show(&blank, &overlay) {
                    log::warn!("live: display: {e}");
                }
                with_stats(stats, |s| s.no_signal_screens += 1);
                continue;
            }
            Tracked::Frame { frame, faces } => {
                let t0 = Instant::now();
                last_size = frame.image.dimensions();
                let mut image = (*frame.image).clone();
                let mut restored_any = false;
                for face in faces.iter().filter(|f| f.eligible) {
                    if let Some(restored) = &face.restored {
                        compositor.paste(&mut image, restored, &face.face);
                        restored_any = true;
                    }
                }
                let mut overlay = Overlay::default();
                if overlay_config.split_view {
                    let half = image.width() / 2;
                    for (x, y, px) in frame.image.enumerate_pixels() {
                        if x < half {
                            image.put_pixel(x, y, *px);
                        }
                    }
                    overlay.split_x = Some(half);
                }
                if overlay_config.face_boxes {
                    overlay.boxes = faces
                        .iter()
                        .map(|f| FaceBox {
                            bbox: f.face.bbox,
                            restored: f.eligible && f.restored.is_some(),
                        })
                        .collect();
                }
                let snapshot = stats.lock().map(|s| s.clone()).unwrap_or_default();
                if overlay_config.fps {
                    overlay.lines.push(format!(
                        "{fps:5.1} fps  faces {}  dropped {}",
                        faces.len(),
                        snapshot.dropped_before_detect + snapshot.dropped_before_display
                    ));
                }
                if overlay_config.timings {
                    overlay.lines.push(format!(
                        "detect {:.0} ms  restore {:.0} ms/face  show {:.0} ms",
                        snapshot.detect.recent_ms,
                        snapshot.restore.recent_ms,
                        snapshot.compose.recent_ms + snapshot.present.recent_ms
                    ));
                    overlay
                        .lines
                        .push(format!("latency {:.0} ms", latency.summary().mean_ms));
                }
                with_stats(stats, |s| s.compose.add(t0.elapsed().as_secs_f64() * 1e3));
                (image, overlay, frame.captured_at, restored_any)
            }
        };
        let t0 = Instant::now();
        match display.show(&image, &overlay) {
            Ok(()) => {
                let now = Instant::now();
                latency.add((now - captured_at).as_secs_f64() * 1e3);
                if let Some(prev) = last_shown {
                    let dt = (now - prev).as_secs_f64().max(1e-6);
                    fps = if fps == 0.0 {
                        1.0 / dt
                    } else {
                        fps + 0.1 * (1.0 / dt - fps)
                    };
                }
                last_shown = Some(now);
                with_stats(stats, |s| {
                    s.frames_shown += 1;
                    if restored_any {
                        s.frames_with_restored_faces += 1;
                    }
                    s.present.add(t0.elapsed().as_secs_f64() * 1e3);
                    if s.frames_shown % RSS_EVERY == 0 {
                        s.sample_rss();
                    }
                });
            }
            Err(DisplayError::Closed) => {
                log::info!("live: display closed; stopping");
                stop.store(true, Ordering::SeqCst);
                with_stats(stats, |s| s.display_errors += 1);
            }
            Err(e) => {
                log::warn!("live: display: {e}");
                with_stats(stats, |s| s.display_errors += 1);
            }
        }
    }
    with_stats(stats, |s| s.latency = latency.summary());
}

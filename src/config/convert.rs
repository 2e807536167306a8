//! The profile schema converted into the option structs of the layers below it: the capture,
//! pipeline and display layers never see the configuration file's types.

use std::path::PathBuf;
use std::time::Duration;

use super::{CameraFormat, Config, FaultConfig, OverlayConfig, SourceConfig, SourceKind};
use crate::capture::{CameraOptions, PixelFormat, SourceOptions};
use crate::live::{LiveOptions, OverlayFlags, RetryPolicy, TrackerConfig};

impl From<CameraFormat> for PixelFormat {
    fn from(format: CameraFormat) -> Self {
        match format {
            CameraFormat::Yuyv => PixelFormat::Yuyv,
            CameraFormat::Mjpeg => PixelFormat::Mjpeg,
        }
    }
}

impl From<&SourceConfig> for SourceOptions {
    /// `realtime = false` turns the pace off for files and synthetic frames; a camera always runs
    /// at its own rate. A camera without `path` is `/dev/video0`.
    fn from(source: &SourceConfig) -> Self {
        let path = || source.path.clone().unwrap_or_default();
        let fps = source.realtime.then_some(source.fps);
        match source.kind {
            SourceKind::Camera => SourceOptions::Camera(CameraOptions {
                device: source
                    .path
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("/dev/video0")),
                width: source.width,
                height: source.height,
                fps: source.fps,
                format: source.format.into(),
            }),
            SourceKind::Directory => SourceOptions::Directory {
                path: path(),
                size: (source.width, source.height),
                fps,
            },
            SourceKind::Video => SourceOptions::Video { path: path(), fps },
            SourceKind::Synthetic => SourceOptions::Synthetic {
                width: source.width,
                height: source.height,
                faces: source.faces,
                seed: source.seed,
                fps,
            },
        }
    }
}

impl From<OverlayConfig> for OverlayFlags {
    fn from(overlay: OverlayConfig) -> Self {
        OverlayFlags {
            fps: overlay.fps,
            timings: overlay.timings,
            face_boxes: overlay.face_boxes,
            split_view: overlay.split_view,
        }
    }
}

impl From<FaultConfig> for RetryPolicy {
    fn from(faults: FaultConfig) -> Self {
        RetryPolicy {
            initial: Duration::from_millis(faults.retry_initial_ms),
            max: Duration::from_millis(faults.retry_max_ms),
        }
    }
}

impl From<&Config> for LiveOptions {
    /// Tracking, scheduling, overlays and retries of a profile; no frame or time limit (those come
    /// from the command line).
    fn from(config: &Config) -> Self {
        let p = &config.pipeline;
        LiveOptions {
            tracking: TrackerConfig {
                match_iou: p.match_iou,
                max_missed: p.max_missed,
                min_cutoff_hz: p.smooth_min_cutoff_hz,
                beta: p.smooth_beta,
                fps: config.source.fps,
            },
            max_faces: p.max_faces as usize,
            overlay: config.overlay.into(),
            retry: config.faults.into(),
            max_frames: None,
            max_duration: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_converts_field_by_field() {
        let config: Config = toml::from_str(
            r#"
            [source]
            kind = "synthetic"
            width = 320
            height = 200
            fps = 12.0
            faces = 2
            seed = 9
            [pipeline]
            max_faces = 2
            match_iou = 0.4
            [overlay]
            fps = false
            split_view = true
            [faults]
            retry_initial_ms = 10
            retry_max_ms = 80
            "#,
        )
        .expect("valid profile");
        assert_eq!(
            SourceOptions::from(&config.source),
            SourceOptions::Synthetic {
                width: 320,
                height: 200,
                faces: 2,
                seed: 9,
                fps: Some(12.0)
            }
        );
        let live = LiveOptions::from(&config);
        assert_eq!(live.max_faces, 2);
        assert_eq!(live.tracking.match_iou, 0.4);
        assert_eq!(live.tracking.fps, 12.0);
        assert_eq!(
            live.overlay,
            OverlayFlags {
                fps: false,
                timings: true,
                face_boxes: false,
                split_view: true
            }
        );
        assert_eq!(live.retry.initial, Duration::from_millis(10));
        assert_eq!(live.retry.max, Duration::from_millis(80));
    }

    #[test]
    fn a_default_profile_gives_the_default_live_options() {
        let config: Config = toml::from_str("[source]\nkind = \"synthetic\"\n").expect("valid");
        let from_profile = LiveOptions::from(&config);
        let default = LiveOptions::default();
        assert_eq!(from_profile.max_faces, default.max_faces);
        assert_eq!(from_profile.overlay, default.overlay);
        assert_eq!(from_profile.retry, default.retry);
        let (a, b) = (from_profile.tracking, default.tracking);
        assert_eq!(
            (a.match_iou, a.max_missed, a.min_cutoff_hz, a.beta, a.fps),
            (b.match_iou, b.max_missed, b.min_cutoff_hz, b.beta, b.fps)
        );
    }
}

//! The live mode (`daefr run`): capture, detect + track, restore and display running concurrently,
//! with newest-wins hand-offs so the display never waits for restoration.

pub mod compose;
mod live;
pub mod mailbox;
pub mod scheduler;
pub mod smoothing;
pub mod stages;
pub mod stats;
pub mod tracker;

pub use compose::{compose, Composed, OverlayFigures, OverlayFlags};
pub use live::{run_live, LiveError, LiveOptions, LiveStages, RetryPolicy};
pub use scheduler::{FramePlan, RestoreRequest, RestoreResult, Scheduler, ShownFace};
pub use stages::{
    DetectorStage, FaceCompositor, FaceRestorer, FrameDetector, ModelRestorer, TemplateCompositor,
    TruthDetector,
};
pub use stats::LiveStats;
pub use tracker::{Track, Tracker, TrackerConfig};

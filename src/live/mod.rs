//! The live mode (`daefr run`): capture, detect + track, restore and display running concurrently,
//! with newest-wins hand-offs so the display never waits for restoration. The tracking and
//! scheduling it runs on are core logic and live in [`crate::track`].

pub mod compose;
mod run;
pub mod stages;
pub mod stats;

pub use compose::{compose, Composed, OverlayFigures, OverlayFlags};
pub use run::{run_live, LiveError, LiveOptions, LiveStages, RetryPolicy};
// The live loop's vocabulary, named here too (the tracker and scheduler are `crate::track`'s).
pub use crate::track::{
    FramePlan, RestoreRequest, RestoreResult, Scheduler, ShownFace, Track, Tracker, TrackerConfig,
};
pub use stages::{
    DetectorStage, FaceCompositor, FaceRestorer, FrameDetector, ModelRestorer, TemplateCompositor,
    TruthDetector,
};
pub use stats::LiveStats;

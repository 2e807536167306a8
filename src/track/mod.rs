//! Following faces over time, the core of every multi-frame path: tracks matched by IoU with
//! One-Euro smoothing of boxes and keypoints ([`Tracker`]), the live loop's choice of what to
//! restore and show ([`Scheduler`]) and its newest-wins hand-off ([`mailbox`]). Pure data and
//! functions: no tract, no I/O, no configuration. Used by the live loop ([`crate::live`]) and
//! by video restoration ([`crate::video`]).

pub mod mailbox;
pub mod scheduler;
pub mod smoothing;
pub mod tracker;

pub use scheduler::{FramePlan, RestoreRequest, RestoreResult, Scheduler, ShownFace};
pub use tracker::{Track, Tracker, TrackerConfig};

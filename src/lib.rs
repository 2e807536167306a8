//! daefr-edge: offline DAEFR face restoration for small ARM boards.
//!
//! Data flows one way: source -> detect -> align -> restore -> paste -> sink, and modules only look
//! down the layers (docs/architecture.md has the map):
//!
//! - core, no tract and no I/O: [`geometry`] (faces, anchors, non-maximum suppression), [`align`]
//!   (alignment and paste-back), tracking, smoothing and scheduling in [`track`];
//! - inference: [`model`] (the DAEFR [`model::Restorer`]), BlazeFace in [`detect`], [`bundled`]
//!   model lookup, every tract knob in [`tuning`], and the one way to run a plan in [`runner`];
//! - I/O: [`image_io`], [`atomic`] writes, frame sources in [`capture`], sinks in [`display`];
//! - application: [`config`] (board profiles, converted into the option structs of the layers
//!   below), [`photo`] (the one face path), [`video`] (that path over every frame of a Y4M
//!   stream, faces tracked) and the live loop's threads ([`live::run_live`]).

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod align;
pub mod atomic;
pub mod bundled;
pub mod capture;
pub mod config;
pub mod detect;
pub mod display;
pub mod error;
pub mod geometry;
pub mod image_io;
pub mod live;
pub mod model;
pub mod photo;
pub mod runner;
pub mod track;
pub mod tuning;
pub mod video;

pub use error::{Error, Result};

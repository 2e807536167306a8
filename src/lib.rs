//! daefr-edge: offline DAEFR face restoration for small ARM boards.
//!
//! Data flows one way: source -> detect -> align -> restore -> paste -> sink.

pub mod align;
pub mod atomic;
pub mod capture;
pub mod config;
pub mod detect;
pub mod display;
pub mod error;
pub mod image_io;
pub mod model;
pub mod photo;
pub mod pipeline;

pub use error::{Error, Result};

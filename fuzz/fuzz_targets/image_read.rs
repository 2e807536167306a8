//! cargo-fuzz target: `common::image_read` (see fuzz/fuzz_targets/common.rs).
#![no_main]

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::image_read(data));

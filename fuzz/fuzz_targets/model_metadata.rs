//! cargo-fuzz target: `common::model_metadata` (see fuzz/fuzz_targets/common.rs).
#![no_main]

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::model_metadata(data));

//! The integration tests: one binary (one link of tract instead of one per file), with the helpers
//! every file shares in `util` and the live-mode test doubles in `common_live`.

mod common_live;
mod util;

mod align_paste;
mod bench_select;
mod cli_runtime;
mod config_profiles;
mod detect_blazeface;
mod fidelity;
mod foreign_models;
mod fuzz_corpus;
mod golden;
mod image_io_errors;
mod layers;
mod live_cli;
mod live_display;
mod live_model;
mod live_pipeline;
mod live_sources;
mod model_errors;
mod photo_cli;
mod photo_restore;
mod reliability;
mod restore_outputs;
mod workers;

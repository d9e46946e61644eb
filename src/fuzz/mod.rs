//! The bodies of the fuzz targets (`fuzz/`), in the library so that
//! `tests/fuzz_replay.rs` replays the saved corpus and every regression on each test
//! run, while `cargo fuzz` drives the same code with libFuzzer. Test support: the
//! switch itself never calls this module.

pub mod adapter;
pub mod buc_step;
pub mod envelope;

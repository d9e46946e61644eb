//! Fuzz target: the body lives in the library (`eessi_switch::fuzz::buc_step`) so that the
//! test suite replays the saved corpus on every run without libFuzzer.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| eessi_switch::fuzz::buc_step::run(data));

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hls_ladder::fuzzing::resolutions(data));

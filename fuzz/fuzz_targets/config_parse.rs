//! Fuzz `config::parse_str` on arbitrary UTF-8: it must return a Config or problems, never panic.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ha_agent::config::parse_str(text, Path::new("fuzz.toml"));
    }
});

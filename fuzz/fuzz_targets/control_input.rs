//! Fuzz the operator-input parsers: `control::parse_request` (a request line from the control
//! socket) and `journal::civil::parse_since` (`ha-agent log --since`). Neither may panic; a
//! parsed `--since` is a time that formats and, for the absolute forms, reads back the same.

#![no_main]

use ha_agent::control::parse_request;
use ha_agent::journal::civil::{format_utc, parse_since};
use libfuzzer_sys::fuzz_target;

/// 2026-11-26 22:07:03.123Z: "now" for the relative forms.
const NOW_MS: u64 = 1_795_730_823_123;

fuzz_target!(|data: &[u8]| {
    let _ = parse_request(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(ms) = parse_since(text, NOW_MS) {
            let shown = format_utc(ms);
            // A day, to the second, parses back to the same instant.
            let day = &shown[..10];
            let again = parse_since(day, NOW_MS).expect("a formatted day parses");
            assert!(again <= ms && ms - again < 86_400_000, "{text:?} -> {shown} -> {again}");
        }
    }
});

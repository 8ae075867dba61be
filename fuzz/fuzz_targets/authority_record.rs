//! Fuzz `core::authority::witness::Stored::parse` (the witness's state file,
//! `state_dir/authority`): arbitrary bytes as its text never panic; a record that parses is
//! valid and its text form parses back to the same record.

#![no_main]

use ha_agent::core::authority::witness::Stored;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some(stored) = Stored::parse(text) {
        assert!(stored.is_valid(), "{stored:?}");
        assert_eq!(Stored::parse(&stored.to_string()), Some(stored), "a record must survive its text form");
    }
});

//! Fuzz `update::manifest::Header::parse` (the header of a field update file, read before its
//! HMAC is checked): arbitrary bytes never panic; a parsed header's payload starts within the
//! header bound; with the harness's key, a header that parses and verifies re-encodes to the
//! same signed header.

#![no_main]

use ha_agent::update::manifest::{Header, MAX_HEADER_BYTES};
use libfuzzer_sys::fuzz_target;

const KEY: &[u8] = &[0x42; 32];

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = Header::parse(data) {
        assert!(h.payload_offset <= MAX_HEADER_BYTES.min(data.len()));
        if h.verify(data, KEY).is_ok() {
            let encoded = h.manifest.encode(KEY);
            assert_eq!(&data[..h.payload_offset], &encoded[..], "a verified header is the one pack writes");
        }
    }
});

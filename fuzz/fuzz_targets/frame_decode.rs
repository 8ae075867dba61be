//! Fuzz `wire::decode`: never panics, and whatever decodes re-encodes to the same bytes.
//!
//! A fuzzer cannot forge the MAC, so raw input only exercises the checks before it. Each input
//! is therefore also tried a second way: its header fields are made consistent (version,
//! flags, cluster id, body length) and the harness appends a valid MAC, computed here with
//! `hmac`/`sha2` directly rather than by the code under test, so that the postcard body
//! parser sees arbitrary authenticated bytes.

#![no_main]

use ha_agent::wire::{
    cluster_id_for, decode, encode, ClusterKey, HEADER_BYTES, MAC_BYTES, MAX_BODY_BYTES,
    MAX_FRAME_BYTES, VERSION,
};
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;

fn key() -> ClusterKey {
    ClusterKey(heapless::Vec::from_slice(&[0x42; 32]).unwrap())
}

fn check(key: &ClusterKey, cluster_id: u32, bytes: &[u8]) -> bool {
    match decode(key, cluster_id, bytes) {
        Ok((header, msg)) => {
            let mut out = [0u8; MAX_FRAME_BYTES];
            let n = encode(key, &header, &msg, &mut out).expect("a decoded frame re-encodes");
            assert_eq!(
                &out[..n],
                bytes,
                "re-encoding differs from the decoded bytes"
            );
            true
        }
        Err(_) => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let key = key();
    let cluster_id = cluster_id_for("fuzz");

    check(&key, cluster_id, data);

    if data.len() < HEADER_BYTES || data.len() > HEADER_BYTES + MAX_BODY_BYTES {
        return;
    }
    let mut frame = [0u8; MAX_FRAME_BYTES];
    let mac_offset = data.len();
    frame[..mac_offset].copy_from_slice(data);
    frame[0] = VERSION;
    frame[1] = 0;
    frame[2..6].copy_from_slice(&cluster_id.to_le_bytes());
    frame[40..42].copy_from_slice(&((mac_offset - HEADER_BYTES) as u16).to_le_bytes());
    frame[42..44].copy_from_slice(&[0, 0]);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key.0).unwrap();
    mac.update(&frame[..mac_offset]);
    let tag = mac.finalize().into_bytes();
    frame[mac_offset..mac_offset + MAC_BYTES].copy_from_slice(&tag[..MAC_BYTES]);
    check(&key, cluster_id, &frame[..mac_offset + MAC_BYTES]);
});

//! Fuzz `links::raw_eth::parse_packet`, the edge where raw Ethernet packets from the heartbeat
//! segment become a frame: never panics, a frame found lies inside the packet and is at most
//! `MAX_FRAME_BYTES`, and a packet built around that frame parses back to the same frame.

#![no_main]

use ha_agent::links::raw_eth::{build_packet, parse_packet, MAX_PACKET_BYTES};
use ha_agent::wire::MAX_FRAME_BYTES;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = parse_packet(data) {
        assert!(parsed.frame.len() <= MAX_FRAME_BYTES);
        assert!(parsed.frame.len() <= data.len());
        let mut packet = [0u8; MAX_PACKET_BYTES];
        let n = build_packet(parsed.source, parsed.frame, &mut packet).expect("a parsed frame fits again");
        let again = parse_packet(&packet[..n]).expect("a built packet parses");
        assert_eq!(again.frame, parsed.frame);
        assert_eq!(again.source, parsed.source);
    }
});

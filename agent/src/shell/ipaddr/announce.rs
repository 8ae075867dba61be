//! The frames that tell a segment where a floating address now lives: a gratuitous ARP for
//! IPv4 (an ARP announcement, RFC 5227: a broadcast request whose sender and target address
//! are the floating one) and an unsolicited neighbour advertisement for IPv6 (RFC 4861 §7.2.6:
//! to all nodes, override flag set, with the target link-layer address), as whole Ethernet
//! frames. Pure byte building; sending them is `super`'s.

#![forbid(unsafe_code)]

use std::net::{Ipv4Addr, Ipv6Addr};

pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
/// The shortest Ethernet frame without its checksum: shorter frames are padded.
pub const MIN_ETHERNET_FRAME_BYTES: usize = 60;
/// An unsolicited neighbour advertisement: Ethernet 14 + IPv6 40 + ICMPv6 32.
pub const NEIGHBOUR_ADVERTISEMENT_BYTES: usize = 86;
const BROADCAST: [u8; 6] = [0xff; 6];
/// `ff02::1` (all nodes) on Ethernet.
const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const ICMPV6: u8 = 58;
const ICMPV6_NEIGHBOUR_ADVERTISEMENT: u8 = 136;
const NA_FLAG_OVERRIDE: u32 = 0x2000_0000;
const OPTION_TARGET_LINK_LAYER_ADDRESS: u8 = 2;

/// A gratuitous ARP request announcing `ip` at `mac`, padded to the minimum frame size.
pub fn gratuitous_arp(mac: [u8; 6], ip: Ipv4Addr) -> [u8; MIN_ETHERNET_FRAME_BYTES] {
    let mut frame = [0u8; MIN_ETHERNET_FRAME_BYTES];
    frame[0..6].copy_from_slice(&BROADCAST);
    frame[6..12].copy_from_slice(&mac);
    frame[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    frame[14..16].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    frame[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    frame[18] = 6;
    frame[19] = 4;
    frame[20..22].copy_from_slice(&1u16.to_be_bytes()); // request
    frame[22..28].copy_from_slice(&mac);
    frame[28..32].copy_from_slice(&ip.octets());
    // Target hardware address: zero, as in an ARP announcement.
    frame[38..42].copy_from_slice(&ip.octets());
    frame
}

/// An unsolicited neighbour advertisement of `ip` at `mac` to all nodes.
pub fn neighbour_advertisement(mac: [u8; 6], ip: Ipv6Addr) -> [u8; NEIGHBOUR_ADVERTISEMENT_BYTES] {
    let mut frame = [0u8; NEIGHBOUR_ADVERTISEMENT_BYTES];
    frame[0..6].copy_from_slice(&ALL_NODES_MAC);
    frame[6..12].copy_from_slice(&mac);
    frame[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    let ipv6 = &mut frame[14..54];
    ipv6[0] = 0x60;
    ipv6[4..6].copy_from_slice(&32u16.to_be_bytes());
    ipv6[6] = ICMPV6;
    ipv6[7] = 255; // hop limit: neighbour discovery requires 255
    ipv6[8..24].copy_from_slice(&ip.octets());
    ipv6[24..40].copy_from_slice(&ALL_NODES.octets());
    let icmp = &mut frame[54..86];
    icmp[0] = ICMPV6_NEIGHBOUR_ADVERTISEMENT;
    icmp[4..8].copy_from_slice(&NA_FLAG_OVERRIDE.to_be_bytes());
    icmp[8..24].copy_from_slice(&ip.octets());
    icmp[24] = OPTION_TARGET_LINK_LAYER_ADDRESS;
    icmp[25] = 1; // in units of 8 bytes
    icmp[26..32].copy_from_slice(&mac);
    let checksum = icmpv6_checksum(ip, ALL_NODES, &frame[54..86]);
    frame[56..58].copy_from_slice(&checksum.to_be_bytes());
    frame
}

/// The ICMPv6 checksum over the pseudo-header and `message` (its checksum field zero).
fn icmpv6_checksum(source: Ipv6Addr, destination: Ipv6Addr, message: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        for pair in bytes.chunks(2) {
            sum += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
        }
    };
    add(&source.octets());
    add(&destination.octets());
    add(&(message.len() as u32).to_be_bytes());
    add(&[0, 0, 0, ICMPV6]);
    add(message);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gratuitous_arp_announces_the_address_from_our_mac() {
        let mac = [2, 0x48, 0x41, 0, 0, 0xa];
        let frame = gratuitous_arp(mac, Ipv4Addr::new(10, 77, 0, 100));
        assert_eq!(&frame[0..6], &[0xff; 6]);
        assert_eq!(&frame[6..12], &mac);
        assert_eq!(&frame[12..14], &[0x08, 0x06]);
        assert_eq!(&frame[20..22], &[0, 1]);
        assert_eq!((&frame[22..28], &frame[28..32]), (&mac[..], &[10, 77, 0, 100][..]));
        assert_eq!((&frame[32..38], &frame[38..42]), (&[0u8; 6][..], &[10, 77, 0, 100][..]));
    }

    #[test]
    fn the_neighbour_advertisement_checksums_to_zero() {
        let mac = [2, 0, 0, 0, 0, 1];
        let ip: Ipv6Addr = "fd00:77::100".parse().unwrap();
        let frame = neighbour_advertisement(mac, ip);
        assert_eq!(frame[54], 136);
        // Summing a message with its checksum in place gives zero.
        assert_eq!(icmpv6_checksum(ip, ALL_NODES, &frame[54..86]), 0);
        assert_eq!(&frame[62..78], &ip.octets());
        assert_eq!(&frame[80..86], &mac);
    }
}

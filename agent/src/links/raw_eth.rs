//! Raw Ethernet transport: one `AF_PACKET` socket bound to one interface and our own
//! EtherType 0x88B5, and the Ethernet framing of heartbeat frames on that segment. It owns the
//! socket (through [`super::packet_sys`]) and the packet layout — broadcast destination, our
//! MAC as source, a big-endian `u16` length prefix, the frame, zero padding up to the 46-byte
//! Ethernet minimum — built and checked with smoltcp's wire types. It does not own
//! authentication, sequence numbers or liveness: the bytes it hands to its sink are untrusted
//! and go to `wire` and `core` unchanged. Malformed packets are counted, logged at debug level
//! and dropped; nothing a peer sends can make this module panic.
//!
//! Packet layout (Ethernet II, no FCS — the NIC adds and strips it):
//!
//! ```text
//! ff:ff:ff:ff:ff:ff | our MAC | 0x88B5 | length: u16 BE | frame (length bytes) | zero padding
//! ```

#![forbid(unsafe_code)]

use std::fmt;
use std::io;
use std::os::fd::BorrowedFd;

use smoltcp::wire::{EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, ETHERNET_HEADER_LEN};

use super::packet_sys::{PacketSocket, ARPHRD_ETHER, PACKET_OUTGOING};
use crate::wire::MAX_FRAME_BYTES;

/// Our EtherType (IEEE 802 local experimental 1).
pub const ETHERTYPE_HA: u16 = 0x88B5;
/// Bytes of the big-endian length prefix in front of the frame.
pub const LENGTH_PREFIX_BYTES: usize = 2;
/// The Ethernet minimum payload (60-byte minimum frame without FCS, minus the 14-byte header).
pub const MIN_PAYLOAD_BYTES: usize = 46;
/// Bound on the payload we send: length prefix plus the largest frame, or the minimum.
pub const MAX_PAYLOAD_BYTES: usize = if LENGTH_PREFIX_BYTES + MAX_FRAME_BYTES > MIN_PAYLOAD_BYTES {
    LENGTH_PREFIX_BYTES + MAX_FRAME_BYTES
} else {
    MIN_PAYLOAD_BYTES
};
/// Bound on a whole packet we send (Ethernet header + payload).
pub const MAX_PACKET_BYTES: usize = ETHERNET_HEADER_LEN + MAX_PAYLOAD_BYTES;
/// Receive buffer: the largest untagged Ethernet frame without FCS (1514 bytes) plus slack,
/// so that anything a standard segment can carry is read whole and judged by its content.
pub const RECV_BUFFER_BYTES: usize = 1514 + 64;
/// Bound on the packets one [`RawEthernet::recv`] call reads; the rest wait for the next poll
/// (the descriptor stays readable), so a flood cannot starve the rest of the loop.
pub const MAX_PACKETS_PER_RECV: usize = 64;

const _: () = assert!(MAX_PACKET_BYTES <= RECV_BUFFER_BYTES);
const _: () = assert!(MAX_FRAME_BYTES <= u16::MAX as usize);

/// A frame we were asked to send does not fit our bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameTooLong {
    pub frame_bytes: usize,
}

impl fmt::Display for FrameTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "frame of {} bytes exceeds the {MAX_FRAME_BYTES}-byte maximum for raw Ethernet",
            self.frame_bytes
        )
    }
}

impl std::error::Error for FrameTooLong {}

/// Why a received packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketError {
    /// Larger than the receive buffer; only its head was read.
    Truncated { packet_bytes: usize },
    /// Shorter than an Ethernet header.
    ShorterThanHeader { packet_bytes: usize },
    /// Not our EtherType (the kernel filter should make this impossible).
    WrongEtherType { ethertype: u16 },
    /// The payload cannot even hold the length prefix.
    MissingLengthPrefix { payload_bytes: usize },
    /// The length prefix claims more bytes than the payload holds.
    LengthBeyondPayload { length_bytes: usize, payload_bytes: usize },
    /// The length prefix exceeds the largest frame we accept.
    LengthBeyondMaximum { length_bytes: usize },
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PacketError::Truncated { packet_bytes } => {
                write!(f, "packet of {packet_bytes} bytes exceeds the {RECV_BUFFER_BYTES}-byte buffer")
            }
            PacketError::ShorterThanHeader { packet_bytes } => {
                write!(f, "packet of {packet_bytes} bytes is shorter than an Ethernet header")
            }
            PacketError::WrongEtherType { ethertype } => {
                write!(f, "EtherType 0x{ethertype:04x} is not 0x{ETHERTYPE_HA:04x}")
            }
            PacketError::MissingLengthPrefix { payload_bytes } => {
                write!(f, "payload of {payload_bytes} bytes has no length prefix")
            }
            PacketError::LengthBeyondPayload { length_bytes, payload_bytes } => {
                write!(f, "length prefix {length_bytes} exceeds the {payload_bytes} payload bytes after it")
            }
            PacketError::LengthBeyondMaximum { length_bytes } => {
                write!(f, "length prefix {length_bytes} exceeds the {MAX_FRAME_BYTES}-byte maximum")
            }
        }
    }
}

impl std::error::Error for PacketError {}

/// A well-formed packet of ours, borrowed from the receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedPacket<'a> {
    pub source: EthernetAddress,
    /// Exactly the frame bytes the sender passed to `send` (padding removed).
    pub frame: &'a [u8],
}

/// Bytes of the Ethernet payload that carries a frame of `frame_bytes`.
pub fn payload_bytes(frame_bytes: usize) -> usize {
    (LENGTH_PREFIX_BYTES + frame_bytes).max(MIN_PAYLOAD_BYTES)
}

/// Write the payload for `frame` (length prefix, frame, zero padding) at the start of `payload`
/// and return its length.
pub fn encode_payload(frame: &[u8], payload: &mut [u8]) -> Result<usize, FrameTooLong> {
    if frame.len() > MAX_FRAME_BYTES {
        return Err(FrameTooLong { frame_bytes: frame.len() });
    }
    let total_bytes = payload_bytes(frame.len());
    assert!(payload.len() >= total_bytes, "payload buffer below MAX_PAYLOAD_BYTES");
    let length = u16::try_from(frame.len()).expect("MAX_FRAME_BYTES fits in u16");
    payload[..LENGTH_PREFIX_BYTES].copy_from_slice(&length.to_be_bytes());
    let frame_end = LENGTH_PREFIX_BYTES + frame.len();
    payload[LENGTH_PREFIX_BYTES..frame_end].copy_from_slice(frame);
    payload[frame_end..total_bytes].fill(0);
    Ok(total_bytes)
}

/// The frame inside an Ethernet payload of ours. Bytes after the frame (padding, possibly
/// extended by the sender's NIC) are ignored.
pub fn decode_payload(payload: &[u8]) -> Result<&[u8], PacketError> {
    let Some((prefix, rest)) = payload.split_first_chunk::<LENGTH_PREFIX_BYTES>() else {
        return Err(PacketError::MissingLengthPrefix { payload_bytes: payload.len() });
    };
    let length_bytes = usize::from(u16::from_be_bytes(*prefix));
    if length_bytes > MAX_FRAME_BYTES {
        return Err(PacketError::LengthBeyondMaximum { length_bytes });
    }
    rest.get(..length_bytes)
        .ok_or(PacketError::LengthBeyondPayload { length_bytes, payload_bytes: rest.len() })
}

/// Build the broadcast packet carrying `frame` from `source` into `packet`; return its length.
pub fn build_packet(
    source: EthernetAddress,
    frame: &[u8],
    packet: &mut [u8; MAX_PACKET_BYTES],
) -> Result<usize, FrameTooLong> {
    let written_payload_bytes = encode_payload(frame, &mut packet[ETHERNET_HEADER_LEN..])?;
    let packet_bytes = ETHERNET_HEADER_LEN + written_payload_bytes;
    let mut ethernet = EthernetFrame::new_unchecked(&mut packet[..packet_bytes]);
    EthernetRepr {
        src_addr: source,
        dst_addr: EthernetAddress::BROADCAST,
        ethertype: EthernetProtocol::from(ETHERTYPE_HA),
    }
    .emit(&mut ethernet);
    Ok(packet_bytes)
}

/// Check a received packet and find the frame in it.
pub fn parse_packet(packet: &[u8]) -> Result<ParsedPacket<'_>, PacketError> {
    let ethernet = EthernetFrame::new_checked(packet)
        .map_err(|_| PacketError::ShorterThanHeader { packet_bytes: packet.len() })?;
    let ethertype = u16::from(ethernet.ethertype());
    if ethertype != ETHERTYPE_HA {
        return Err(PacketError::WrongEtherType { ethertype });
    }
    let frame = decode_payload(ethernet.payload())?;
    Ok(ParsedPacket { source: ethernet.src_addr(), frame })
}

/// A raw Ethernet link on one interface. Sends go to the broadcast address; receives keep
/// only well-formed packets of our EtherType from other stations.
pub struct RawEthernet {
    socket: PacketSocket,
    interface: String,
    source: EthernetAddress,
    receive_buffer: Box<[u8]>,
    malformed_packets: u64,
}

impl fmt::Debug for RawEthernet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawEthernet")
            .field("interface", &self.interface)
            .field("source", &self.source)
            .field("malformed_packets", &self.malformed_packets)
            .finish_non_exhaustive()
    }
}

impl RawEthernet {
    /// Open a non-blocking packet socket on `interface`, receiving only ETHERTYPE_HA.
    /// Needs CAP_NET_RAW; fails with `NotFound` naming the interface if it does not exist,
    /// and with `InvalidInput` if it is not an Ethernet interface.
    pub fn open(interface: &str) -> io::Result<Self> {
        let socket = PacketSocket::open(interface, ETHERTYPE_HA)?;
        let hardware = socket.hardware_address(interface)?;
        if hardware.hardware_type != ARPHRD_ETHER {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "network interface {interface:?} is not Ethernet (ARPHRD type {})",
                    hardware.hardware_type
                ),
            ));
        }
        Ok(RawEthernet {
            socket,
            interface: interface.to_owned(),
            source: EthernetAddress(hardware.bytes),
            receive_buffer: vec![0u8; RECV_BUFFER_BYTES].into_boxed_slice(),
            malformed_packets: 0,
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.fd()
    }

    /// The interface's MAC address, used as the source of every packet we send.
    pub fn mac(&self) -> EthernetAddress {
        self.source
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Packets dropped as malformed since `open`.
    pub fn malformed_packets(&self) -> u64 {
        self.malformed_packets
    }

    /// Send one frame to the broadcast address. A frame longer than `MAX_FRAME_BYTES` is
    /// refused with `InvalidInput`; a full device queue gives `WouldBlock` (never blocks).
    pub fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        let mut packet = [0u8; MAX_PACKET_BYTES];
        let packet_bytes = build_packet(self.source, frame, &mut packet)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
        self.socket.send(&packet[..packet_bytes])
    }

    /// Drain pending packets, at most `MAX_PACKETS_PER_RECV` per call; calls `sink` with each
    /// received frame (padding removed). Returns `Ok` when the queue is empty or the bound is
    /// reached, and the socket's error otherwise (e.g. `ENETDOWN` once when the link drops).
    pub fn recv(&mut self, sink: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        for _ in 0..MAX_PACKETS_PER_RECV {
            let received = match self.socket.recv(&mut self.receive_buffer) {
                Ok(received) => received,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            if received.packet_type == PACKET_OUTGOING {
                continue; // our own transmission, looped back to the socket
            }
            if received.truncated {
                self.drop_malformed(PacketError::Truncated { packet_bytes: received.packet_bytes });
                continue;
            }
            match parse_packet(&self.receive_buffer[..received.packet_bytes]) {
                Ok(parsed) if parsed.source == self.source => {} // our own, seen on the segment
                Ok(parsed) => sink(parsed.frame),
                Err(error) => self.drop_malformed(error),
            }
        }
        Ok(())
    }

    fn drop_malformed(&mut self, error: PacketError) {
        self.malformed_packets = self.malformed_packets.saturating_add(1);
        log::debug!("raw Ethernet {}: dropped malformed packet: {error}", self.interface);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x0a]);

    fn built(frame: &[u8]) -> Vec<u8> {
        let mut packet = [0u8; MAX_PACKET_BYTES];
        let packet_bytes = build_packet(SOURCE, frame, &mut packet).unwrap();
        packet[..packet_bytes].to_vec()
    }

    #[test]
    fn short_frame_is_padded_to_the_ethernet_minimum() {
        let packet = built(&[0xAB]);
        assert_eq!(packet.len(), 60);
        assert_eq!(&packet[0..6], &[0xff; 6]);
        assert_eq!(&packet[6..12], SOURCE.as_bytes());
        assert_eq!(&packet[12..14], &[0x88, 0xB5]);
        assert_eq!(&packet[14..16], &[0x00, 0x01]);
        assert_eq!(packet[16], 0xAB);
        assert!(packet[17..].iter().all(|&byte| byte == 0));
    }

    #[test]
    fn largest_frame_needs_no_padding_and_round_trips() {
        let frame: Vec<u8> = (0..MAX_FRAME_BYTES).map(|i| i as u8).collect();
        let packet = built(&frame);
        assert_eq!(packet.len(), MAX_PACKET_BYTES);
        assert_eq!(&packet[14..16], &(MAX_FRAME_BYTES as u16).to_be_bytes());
        let parsed = parse_packet(&packet).unwrap();
        assert_eq!(parsed.source, SOURCE);
        assert_eq!(parsed.frame, &frame[..]);
    }

    #[test]
    fn every_size_round_trips_exactly() {
        for frame_bytes in 0..=MAX_FRAME_BYTES {
            let frame: Vec<u8> = (0..frame_bytes).map(|i| (i * 7 + 1) as u8).collect();
            let packet = built(&frame);
            assert_eq!(packet.len(), ETHERNET_HEADER_LEN + payload_bytes(frame_bytes));
            assert_eq!(parse_packet(&packet).unwrap().frame, &frame[..], "{frame_bytes}");
        }
    }

    #[test]
    fn oversize_frame_is_refused_and_leaves_no_packet() {
        let frame = vec![0u8; MAX_FRAME_BYTES + 1];
        let mut packet = [0u8; MAX_PACKET_BYTES];
        assert_eq!(
            build_packet(SOURCE, &frame, &mut packet),
            Err(FrameTooLong { frame_bytes: MAX_FRAME_BYTES + 1 })
        );
    }

    #[test]
    fn length_prefix_beyond_payload_is_rejected() {
        let mut payload = [0u8; MIN_PAYLOAD_BYTES];
        payload[..2].copy_from_slice(&45u16.to_be_bytes()); // 44 bytes follow the prefix
        assert_eq!(
            decode_payload(&payload),
            Err(PacketError::LengthBeyondPayload { length_bytes: 45, payload_bytes: 44 })
        );
        payload[..2].copy_from_slice(&44u16.to_be_bytes());
        assert_eq!(decode_payload(&payload).unwrap().len(), 44);
    }

    #[test]
    fn length_prefix_beyond_maximum_is_rejected_even_if_bytes_follow() {
        let mut payload = vec![0u8; 1500];
        let length_bytes = MAX_FRAME_BYTES + 1;
        payload[..2].copy_from_slice(&(length_bytes as u16).to_be_bytes());
        assert_eq!(decode_payload(&payload), Err(PacketError::LengthBeyondMaximum { length_bytes }));
    }

    #[test]
    fn runts_and_foreign_ethertypes_are_rejected() {
        assert_eq!(parse_packet(&[0u8; 13]), Err(PacketError::ShorterThanHeader { packet_bytes: 13 }));
        let mut packet = built(&[1, 2, 3]);
        assert_eq!(
            parse_packet(&packet[..ETHERNET_HEADER_LEN + 1]),
            Err(PacketError::MissingLengthPrefix { payload_bytes: 1 })
        );
        packet[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        assert_eq!(parse_packet(&packet), Err(PacketError::WrongEtherType { ethertype: 0x0800 }));
    }

    #[test]
    fn padding_beyond_the_frame_is_ignored() {
        let mut packet = built(&[9, 8, 7]);
        packet.extend_from_slice(&[0xEE; 100]); // e.g. a sender NIC padding further
        assert_eq!(parse_packet(&packet).unwrap().frame, &[9, 8, 7]);
    }
}

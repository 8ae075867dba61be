//! The rtnetlink wire format the built-in `ipaddr` resource speaks: requests encoded
//! (`RTM_GETLINK` and `RTM_GETADDR` dumps, `RTM_NEWADDR`, `RTM_DELADDR`) and the kernel's reply
//! datagrams parsed at the edge into typed values ([`Message`]) or a typed [`ParseError`].
//!
//! Owns the byte layout only (`nlmsghdr`, `ifinfomsg`, `ifaddrmsg`, `rtattr`, in the host's
//! byte order as the kernel writes them) and the bounds on what one datagram may hold. It does
//! no I/O (the socket is `super`'s) and decides nothing (which address to add or whether a
//! resource runs is `core::resources::ipaddr`). The fuzz target `netlink_reply` feeds
//! [`parse_datagram`] arbitrary bytes.

#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::core::resources::ipaddr::{Address, InterfaceName, Link, MAX_INTERFACE_NAME_BYTES};

pub const NLMSG_HEADER_BYTES: usize = 16;
const IFINFOMSG_BYTES: usize = 16;
const IFADDRMSG_BYTES: usize = 8;
const RTATTR_HEADER_BYTES: usize = 4;
/// Bound on the messages of one datagram (a dump datagram of 32 KiB holds a few dozen).
pub const MAX_MESSAGES_PER_DATAGRAM: usize = 4096;

pub const NLMSG_NOOP: u16 = 1;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const RTM_NEWLINK: u16 = 16;
pub const RTM_GETLINK: u16 = 18;
pub const RTM_NEWADDR: u16 = 20;
pub const RTM_DELADDR: u16 = 21;
pub const RTM_GETADDR: u16 = 22;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
pub const NLM_F_EXCL: u16 = 0x200;
pub const NLM_F_CREATE: u16 = 0x400;

const AF_UNSPEC: u8 = 0;
pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_OPERSTATE: u16 = 16;
const IF_OPER_DOWN: u8 = 2;
const IF_OPER_LOWERLAYERDOWN: u8 = 5;
const IFF_UP: u32 = 0x1;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;
/// `IFA_F_NODAD`: an added IPv6 address is usable at once (no duplicate address detection
/// wait); the unsolicited neighbour advertisement announces it.
pub const IFA_F_NODAD: u32 = 0x02;
/// `RT_SCOPE_UNIVERSE`.
const RT_SCOPE_UNIVERSE: u8 = 0;
/// Attribute types carry two flag bits (`NLA_F_NESTED`, `NLA_F_NET_BYTEORDER`).
const NLA_TYPE_MASK: u16 = 0x3fff;

/// One message of a reply, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// `NLMSG_ERROR` with error 0: the request was carried out.
    Ack,
    /// `NLMSG_ERROR` with an error: the request failed with this errno (positive).
    Error(i32),
    /// `NLMSG_DONE`: the end of a dump.
    Done,
    Link(Link),
    Address(Address),
    /// An address of another family than IPv4 and IPv6, a no-op, or another type: skipped.
    Other,
}

/// Why a datagram is not a valid rtnetlink reply. The offset is where in the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Fewer bytes than a message header, or a length that runs past the datagram.
    BadMessageLength { offset: usize },
    /// A message's fixed part (error code, `ifinfomsg`, `ifaddrmsg`) is cut short.
    ShortBody { offset: usize },
    /// An attribute's length is smaller than its header or runs past its message.
    BadAttributeLength { offset: usize },
    /// An attribute has the wrong size for its type (an address of 5 bytes, ...).
    BadAttributeValue { offset: usize },
    /// An interface without a valid name (`IFLA_IFNAME` missing, too long, or not text).
    BadInterfaceName { offset: usize },
    /// An address message without an address, or with a prefix longer than its family allows.
    BadAddress { offset: usize },
    /// More than [`MAX_MESSAGES_PER_DATAGRAM`] messages.
    TooManyMessages,
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ParseError::BadMessageLength { offset } => write!(f, "bad message length at byte {offset}"),
            ParseError::ShortBody { offset } => write!(f, "message cut short at byte {offset}"),
            ParseError::BadAttributeLength { offset } => write!(f, "bad attribute length at byte {offset}"),
            ParseError::BadAttributeValue { offset } => write!(f, "bad attribute value at byte {offset}"),
            ParseError::BadInterfaceName { offset } => write!(f, "bad interface name at byte {offset}"),
            ParseError::BadAddress { offset } => write!(f, "bad address at byte {offset}"),
            ParseError::TooManyMessages => write!(f, "more than {MAX_MESSAGES_PER_DATAGRAM} messages"),
        }
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parse one datagram into its messages, each with its sequence number.
pub fn parse_datagram(datagram: &[u8]) -> Result<Vec<(u32, Message)>, ParseError> {
    let mut messages = Vec::new();
    let mut offset = 0;
    while offset < datagram.len() {
        if messages.len() == MAX_MESSAGES_PER_DATAGRAM {
            return Err(ParseError::TooManyMessages);
        }
        let rest = &datagram[offset..];
        if rest.len() < NLMSG_HEADER_BYTES {
            return Err(ParseError::BadMessageLength { offset });
        }
        let length = u32_at(rest, 0) as usize;
        if length < NLMSG_HEADER_BYTES || length > rest.len() {
            return Err(ParseError::BadMessageLength { offset });
        }
        let kind = u16_at(rest, 4);
        let seq = u32_at(rest, 8);
        let body = &rest[NLMSG_HEADER_BYTES..length];
        let body_offset = offset + NLMSG_HEADER_BYTES;
        let message = match kind {
            NLMSG_ERROR => {
                if body.len() < 4 {
                    return Err(ParseError::ShortBody { offset: body_offset });
                }
                match i32::from_ne_bytes([body[0], body[1], body[2], body[3]]) {
                    0 => Message::Ack,
                    error => Message::Error(error.checked_neg().unwrap_or(i32::MAX)),
                }
            }
            NLMSG_DONE => Message::Done,
            RTM_NEWLINK => Message::Link(parse_link(body, body_offset)?),
            RTM_NEWADDR => parse_address(body, body_offset)?.map_or(Message::Other, Message::Address),
            _ => Message::Other,
        };
        messages.push((seq, message));
        offset += align4(length).min(rest.len());
    }
    Ok(messages)
}

/// One attribute: its type (flag bits cleared), its value, and where the value starts.
struct Attribute<'a> {
    kind: u16,
    value: &'a [u8],
    offset: usize,
}

/// The attributes after a fixed part (`base` is its offset in the datagram).
fn attributes(body: &[u8], base: usize) -> Result<Vec<Attribute<'_>>, ParseError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + RTATTR_HEADER_BYTES <= body.len() {
        let length = u16_at(body, at) as usize;
        if length < RTATTR_HEADER_BYTES || at + length > body.len() {
            return Err(ParseError::BadAttributeLength { offset: base + at });
        }
        out.push(Attribute {
            kind: u16_at(body, at + 2) & NLA_TYPE_MASK,
            value: &body[at + RTATTR_HEADER_BYTES..at + length],
            offset: base + at + RTATTR_HEADER_BYTES,
        });
        at += align4(length);
    }
    Ok(out)
}

fn parse_link(body: &[u8], base: usize) -> Result<Link, ParseError> {
    if body.len() < IFINFOMSG_BYTES {
        return Err(ParseError::ShortBody { offset: base });
    }
    let index = u32_at(body, 4);
    let flags = u32_at(body, 8);
    let mut name = None;
    let mut mac = None;
    let mut lower_down = false;
    for Attribute { kind, value, offset: at } in attributes(&body[IFINFOMSG_BYTES..], base + IFINFOMSG_BYTES)?
    {
        match kind {
            IFLA_IFNAME => {
                let text = value.split(|&b| b == 0).next().unwrap_or(&[]);
                let parsed = core::str::from_utf8(text)
                    .ok()
                    .filter(|t| !t.is_empty() && t.len() <= MAX_INTERFACE_NAME_BYTES)
                    .and_then(|t| InterfaceName::try_from(t).ok());
                name = Some(parsed.ok_or(ParseError::BadInterfaceName { offset: at })?);
            }
            IFLA_ADDRESS => mac = <[u8; 6]>::try_from(value).ok(),
            IFLA_OPERSTATE => {
                let &[state] = value else { return Err(ParseError::BadAttributeValue { offset: at }) };
                lower_down = matches!(state, IF_OPER_DOWN | IF_OPER_LOWERLAYERDOWN);
            }
            _ => {}
        }
    }
    let name = name.ok_or(ParseError::BadInterfaceName { offset: base })?;
    Ok(Link { index, name, up: flags & IFF_UP != 0, lower_down, mac })
}

fn ip_of(family: u8, value: &[u8], at: usize) -> Result<IpAddr, ParseError> {
    match (family, value.len()) {
        (AF_INET, 4) => Ok(IpAddr::V4(Ipv4Addr::new(value[0], value[1], value[2], value[3]))),
        (AF_INET6, 16) => {
            let bytes: [u8; 16] =
                value.try_into().map_err(|_| ParseError::BadAttributeValue { offset: at })?;
            Ok(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => Err(ParseError::BadAttributeValue { offset: at }),
    }
}

/// `None` for a family other than IPv4 and IPv6.
fn parse_address(body: &[u8], base: usize) -> Result<Option<Address>, ParseError> {
    if body.len() < IFADDRMSG_BYTES {
        return Err(ParseError::ShortBody { offset: base });
    }
    let family = body[0];
    let prefix_len = body[1];
    let index = u32_at(body, 4);
    let bound = match family {
        AF_INET => 32,
        AF_INET6 => 128,
        _ => return Ok(None),
    };
    let (mut local, mut address) = (None, None);
    for Attribute { kind, value, offset: at } in attributes(&body[IFADDRMSG_BYTES..], base + IFADDRMSG_BYTES)?
    {
        match kind {
            IFA_LOCAL => local = Some(ip_of(family, value, at)?),
            IFA_ADDRESS => address = Some(ip_of(family, value, at)?),
            _ => {}
        }
    }
    // IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on point-to-point links).
    let ip = local.or(address).ok_or(ParseError::BadAddress { offset: base })?;
    if prefix_len > bound {
        return Err(ParseError::BadAddress { offset: base });
    }
    Ok(Some(Address { index, ip, prefix_len }))
}

fn header(out: &mut Vec<u8>, kind: u16, flags: u16, seq: u32) {
    out.extend_from_slice(&0u32.to_ne_bytes()); // length, set by `finish`
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills in ours
}

fn attribute(out: &mut Vec<u8>, kind: u16, value: &[u8]) {
    let length = RTATTR_HEADER_BYTES + value.len();
    out.extend_from_slice(&(length as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(align4(out.len()), 0);
}

fn finish(mut out: Vec<u8>) -> Vec<u8> {
    let length = out.len() as u32;
    out[..4].copy_from_slice(&length.to_ne_bytes());
    out
}

/// `RTM_GETLINK` dump: every interface.
pub fn get_links(seq: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(NLMSG_HEADER_BYTES + IFINFOMSG_BYTES);
    header(&mut out, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq);
    out.extend_from_slice(&[0u8; IFINFOMSG_BYTES]);
    finish(out)
}

/// `RTM_GETADDR` dump: every address of every family.
pub fn get_addresses(seq: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(NLMSG_HEADER_BYTES + IFADDRMSG_BYTES);
    header(&mut out, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq);
    out.extend_from_slice(&[AF_UNSPEC, 0, 0, 0, 0, 0, 0, 0]);
    finish(out)
}

fn address_body(out: &mut Vec<u8>, address: &Address, flags: u8) {
    let family = if address.ip.is_ipv4() { AF_INET } else { AF_INET6 };
    out.extend_from_slice(&[family, address.prefix_len, flags, RT_SCOPE_UNIVERSE]);
    out.extend_from_slice(&address.index.to_ne_bytes());
    match address.ip {
        IpAddr::V4(ip) => {
            attribute(out, IFA_LOCAL, &ip.octets());
            attribute(out, IFA_ADDRESS, &ip.octets());
        }
        IpAddr::V6(ip) => attribute(out, IFA_ADDRESS, &ip.octets()),
    }
}

/// `RTM_NEWADDR` (create, exclusive; acknowledged): `address` on its interface, with the IPv4
/// broadcast address; IPv6 addresses without duplicate address detection ([`IFA_F_NODAD`]).
pub fn add_address(seq: u32, address: &Address, broadcast: Option<Ipv4Addr>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    header(&mut out, RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, seq);
    let flags = if address.ip.is_ipv6() { IFA_F_NODAD } else { 0 };
    address_body(&mut out, address, flags as u8);
    if let (Some(broadcast), IpAddr::V4(_)) = (broadcast, address.ip) {
        attribute(&mut out, IFA_BROADCAST, &broadcast.octets());
    }
    if flags != 0 {
        attribute(&mut out, IFA_FLAGS, &flags.to_ne_bytes());
    }
    finish(out)
}

/// `RTM_DELADDR` (acknowledged): `address` off its interface.
pub fn delete_address(seq: u32, address: &Address) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    header(&mut out, RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, seq);
    address_body(&mut out, address, 0);
    finish(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        header(&mut out, kind, 0, seq);
        out.extend_from_slice(body);
        out.resize(align4(out.len()), 0);
        finish(out)
    }

    fn link_body(index: u32, flags: u32, name: &[u8], mac: &[u8], operstate: u8) -> Vec<u8> {
        let mut body = vec![0u8; IFINFOMSG_BYTES];
        body[4..8].copy_from_slice(&index.to_ne_bytes());
        body[8..12].copy_from_slice(&flags.to_ne_bytes());
        attribute(&mut body, IFLA_IFNAME, name);
        attribute(&mut body, IFLA_ADDRESS, mac);
        attribute(&mut body, IFLA_OPERSTATE, &[operstate]);
        body
    }

    #[test]
    fn a_dump_datagram_parses_into_links_addresses_and_its_end() {
        let mut datagram = message(RTM_NEWLINK, 7, &link_body(3, IFF_UP, b"eth1\0", &[2, 1, 2, 3, 4, 5], 6));
        datagram.extend(message(
            RTM_NEWLINK,
            7,
            &link_body(4, 0, b"eth2\0", &[2, 0, 0, 0, 0, 9], IF_OPER_DOWN),
        ));
        let added =
            add_address(7, &Address { index: 3, ip: "10.0.0.10".parse().unwrap(), prefix_len: 24 }, None);
        let mut reply_addr = added.clone();
        reply_addr[4..6].copy_from_slice(&RTM_NEWADDR.to_ne_bytes());
        datagram.extend(reply_addr);
        datagram.extend(message(NLMSG_DONE, 7, &0i32.to_ne_bytes()));
        let parsed = parse_datagram(&datagram).unwrap();
        assert_eq!(parsed.len(), 4);
        let Message::Link(first) = &parsed[0].1 else { panic!("{parsed:?}") };
        assert_eq!((first.index, first.name.as_str(), first.up, first.lower_down), (3, "eth1", true, false));
        assert_eq!(first.mac, Some([2, 1, 2, 3, 4, 5]));
        let Message::Link(second) = &parsed[1].1 else { panic!() };
        assert_eq!((second.up, second.lower_down), (false, true));
        assert_eq!(
            parsed[2],
            (7, Message::Address(Address { index: 3, ip: "10.0.0.10".parse().unwrap(), prefix_len: 24 }))
        );
        assert_eq!(parsed[3], (7, Message::Done));
    }

    #[test]
    fn errors_and_acks_carry_the_errno() {
        let ack = message(NLMSG_ERROR, 1, &[0i32.to_ne_bytes(), [0; 4]].concat());
        assert_eq!(parse_datagram(&ack).unwrap(), vec![(1, Message::Ack)]);
        let error = message(NLMSG_ERROR, 2, &(-17i32).to_ne_bytes());
        assert_eq!(parse_datagram(&error).unwrap(), vec![(2, Message::Error(17))]);
        let short = message(NLMSG_ERROR, 2, &[]);
        assert_eq!(parse_datagram(&short), Err(ParseError::ShortBody { offset: 16 }));
    }

    #[test]
    fn requests_encode_as_the_kernel_expects() {
        let v6 = add_address(9, &Address { index: 5, ip: "fd00::10".parse().unwrap(), prefix_len: 64 }, None);
        assert_eq!(u32_at(&v6, 0) as usize, v6.len());
        assert_eq!(u16_at(&v6, 4), RTM_NEWADDR);
        assert_eq!(u16_at(&v6, 6), NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
        assert_eq!(u32_at(&v6, 8), 9);
        assert_eq!(&v6[16..20], &[AF_INET6, 64, IFA_F_NODAD as u8, 0]);
        assert_eq!(u32_at(&v6, 20), 5);
        // IFA_ADDRESS (20 bytes) then IFA_FLAGS (8 bytes).
        assert_eq!(v6.len(), 16 + 8 + 20 + 8);
        let v4 = add_address(
            1,
            &Address { index: 2, ip: "10.1.2.3".parse().unwrap(), prefix_len: 24 },
            Some("10.1.2.255".parse().unwrap()),
        );
        assert_eq!(v4.len(), 16 + 8 + 8 + 8 + 8);
        assert_eq!(&v4[v4.len() - 4..], &[10, 1, 2, 255]);
        let del = delete_address(2, &Address { index: 2, ip: "10.1.2.3".parse().unwrap(), prefix_len: 24 });
        assert_eq!((u16_at(&del, 4), del.len()), (RTM_DELADDR, 16 + 8 + 8 + 8));
        assert_eq!(get_links(3).len(), 32);
        assert_eq!(get_addresses(3).len(), 24);
    }

    #[test]
    fn the_fuzz_seed_is_a_dump_as_the_kernel_writes_it() {
        let dump = include_bytes!("../../../../fuzz/seeds/netlink_reply/dump");
        let parsed = parse_datagram(dump).unwrap();
        let kinds: Vec<_> = parsed.iter().map(|(_, m)| std::mem::discriminant(m)).collect();
        assert_eq!(kinds.len(), 4);
        assert!(matches!(&parsed[0].1, Message::Link(l) if l.name == "eth0" && l.up && !l.lower_down));
        assert_eq!(
            parsed[1].1,
            Message::Address(Address { index: 2, ip: "10.78.0.1".parse().unwrap(), prefix_len: 24 })
        );
        assert_eq!(
            parsed[2].1,
            Message::Address(Address { index: 2, ip: "fd00:78::1".parse().unwrap(), prefix_len: 64 })
        );
        assert_eq!(parsed[3].1, Message::Done);
        let eexist = include_bytes!("../../../../fuzz/seeds/netlink_reply/eexist");
        assert_eq!(parse_datagram(eexist).unwrap(), vec![(7, Message::Error(17))]);
    }

    #[test]
    fn malformed_datagrams_are_typed_errors_not_guesses() {
        assert_eq!(parse_datagram(&[0; 15]), Err(ParseError::BadMessageLength { offset: 0 }));
        let mut long = message(NLMSG_DONE, 1, &[0; 4]);
        long[0] = 200;
        assert_eq!(parse_datagram(&long), Err(ParseError::BadMessageLength { offset: 0 }));
        let mut body = vec![0u8; IFINFOMSG_BYTES];
        body.extend_from_slice(&[2, 0, 3, 0]); // attribute length 2 < 4
        assert!(matches!(
            parse_datagram(&message(RTM_NEWLINK, 1, &body)),
            Err(ParseError::BadAttributeLength { .. })
        ));
        let nameless = message(RTM_NEWLINK, 1, &[0u8; IFINFOMSG_BYTES]);
        assert!(matches!(parse_datagram(&nameless), Err(ParseError::BadInterfaceName { .. })));
        let long_name = link_body(1, 0, b"sixteen_bytes_xx\0", &[0; 6], 6);
        assert!(matches!(
            parse_datagram(&message(RTM_NEWLINK, 1, &long_name)),
            Err(ParseError::BadInterfaceName { .. })
        ));
        let mut bad_addr = vec![AF_INET, 24, 0, 0, 1, 0, 0, 0];
        attribute(&mut bad_addr, IFA_LOCAL, &[10, 0, 0]);
        assert!(matches!(
            parse_datagram(&message(RTM_NEWADDR, 1, &bad_addr)),
            Err(ParseError::BadAttributeValue { .. })
        ));
        let mut wide = vec![AF_INET, 33, 0, 0, 1, 0, 0, 0];
        attribute(&mut wide, IFA_LOCAL, &[10, 0, 0, 1]);
        assert!(matches!(
            parse_datagram(&message(RTM_NEWADDR, 1, &wide)),
            Err(ParseError::BadAddress { .. })
        ));
        let other_family = message(RTM_NEWADDR, 1, &[17, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(parse_datagram(&other_family).unwrap(), vec![(1, Message::Other)]);
    }
}

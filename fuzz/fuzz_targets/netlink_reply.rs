//! Fuzz `shell::ipaddr::netlink::parse_datagram`, the edge where the kernel's rtnetlink replies
//! become typed interfaces, addresses, acknowledgements and errors: never panics, stays within
//! its bounds, every address it returns is within its family's prefix bound, every interface
//! name is a Linux name, and an address it returns encodes into a request that parses back to
//! the same address.

#![no_main]

use ha_agent::core::resources::ipaddr::MAX_INTERFACE_NAME_BYTES;
use ha_agent::shell::ipaddr::netlink::{add_address, parse_datagram, Message, MAX_MESSAGES_PER_DATAGRAM, RTM_NEWADDR};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(messages) = parse_datagram(data) else { return };
    assert!(messages.len() <= MAX_MESSAGES_PER_DATAGRAM);
    for (seq, message) in messages {
        match message {
            Message::Address(address) => {
                let bound = if address.ip.is_ipv4() { 32 } else { 128 };
                assert!(address.prefix_len <= bound);
                let mut request = add_address(seq, &address, None);
                request[4..6].copy_from_slice(&RTM_NEWADDR.to_ne_bytes());
                let again = parse_datagram(&request).expect("an encoded address parses");
                assert_eq!(again, vec![(seq, Message::Address(address))]);
            }
            Message::Link(link) => {
                assert!(!link.name.is_empty() && link.name.len() <= MAX_INTERFACE_NAME_BYTES);
            }
            Message::Error(errno) => assert!(errno != 0),
            Message::Ack | Message::Done | Message::Other => {}
        }
    }
});

//! Fuzz the fence service: what anyone on the network may send to the box's
//! `[fence_service] listen` port, what a box (or anyone) may send back to `fence_rackha`, and
//! the agent's `key=value` standard input. The input is a sequence of datagrams, each
//! `[mode][length][bytes]`: mode bit 0 seals the bytes as a request body under the box's key
//! (so the postcard body parser behind the MAC is reached), bit 1 sends a hello first and
//! seals the bytes after the nonce the box gave, bit 2 also decodes the bytes as a client would
//! (raw, and sealed as a reply); the high bits advance the clock. What must hold: nothing
//! panics; the box answers each datagram at most once, never with more than
//! `MAX_DATAGRAM_BYTES`, never with more bytes than an unauthenticated datagram brought (no
//! amplification), and every answer decodes for the client; the nonce table and the commands
//! stay within their bounds; the same bytes as the agent's stdin give options or an error.

#![no_main]

use std::net::SocketAddr;

use ha_agent::cli::fence_agent as client;
use ha_agent::fencesvc::protocol::{self, FromBox, MAGIC, MAX_DATAGRAM_BYTES, NONCE_BYTES};
use ha_agent::fencesvc::server::{Outcome, Server, ServerConfig, MAX_COMMANDS};
use ha_agent::time::Micros;
use ha_agent::wire::ClusterKey;
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;

const KIND_REQUEST: u8 = 3;
const KIND_REPLY: u8 = 4;

fn key() -> ClusterKey {
    ClusterKey(heapless::Vec::from_slice(&[0x42; 32]).unwrap())
}

fn seal(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.push(kind);
    out.extend_from_slice(body);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key().0).unwrap();
    mac.update(&out);
    out.extend_from_slice(&mac.finalize().into_bytes());
    out
}

fuzz_target!(|data: &[u8]| {
    let mut server = Server::new(
        ServerConfig {
            key: key(),
            plugs: vec!["pm-a".into(), "pm-b".into()],
            own_members: vec!["node-a".into(), "node-b".into(), "witness".into()],
            clients: vec!["127.0.0.1".parse().unwrap()],
            // The sender is the node on pm-a: a switch of pm-a holds its later requests.
            client_plugs: vec![("127.0.0.1".parse().unwrap(), 0)],
        },
        Micros::ZERO,
    );
    let from: SocketAddr = "127.0.0.1:5405".parse().unwrap();
    let mut now = Micros::ZERO;
    let mut counter = 0u64;
    let mut fresh = move || {
        counter += 1;
        let mut n = [0u8; NONCE_BYTES];
        n[..8].copy_from_slice(&counter.to_le_bytes());
        Some(n)
    };
    let mut rest = data;
    while let [mode, len, tail @ ..] = rest {
        let take = usize::from(*len).min(tail.len());
        let (bytes, next) = tail.split_at(take);
        rest = next;
        now = now.plus_ms(u64::from(mode >> 3) * 100);
        let mut datagram = bytes.to_vec();
        if mode & 2 != 0 {
            let hello = server.handle(now, from, &protocol::encode_hello(), &mut fresh);
            if let Some(Ok(FromBox::Challenge { nonce, .. })) =
                hello.reply.as_deref().map(|r| protocol::decode_from_box(&key(), r))
            {
                let mut body = nonce.to_vec();
                body.extend_from_slice(bytes);
                datagram = seal(KIND_REQUEST, &body);
            }
        } else if mode & 1 != 0 {
            datagram = seal(KIND_REQUEST, bytes);
        }
        let handled = server.handle(now, from, &datagram, &mut fresh);
        if let Some(reply) = &handled.reply {
            assert!(reply.len() <= MAX_DATAGRAM_BYTES);
            let authenticated = matches!(
                handled.outcome,
                Outcome::Accepted | Outcome::Retransmission | Outcome::Listed | Outcome::Refused { .. }
            );
            if !authenticated {
                assert!(
                    reply.len() <= datagram.len(),
                    "{} bytes answered to {}",
                    reply.len(),
                    datagram.len()
                );
            }
            assert!(protocol::decode_from_box(&key(), reply).is_ok(), "an answer the client cannot read");
        }
        if let Some(command) = &handled.command {
            assert_eq!(handled.outcome, Outcome::Accepted);
            assert!(command.plug < server.plugs().len());
            // Finish some commands at once, leave others running.
            if mode & 4 != 0 {
                let done = server.finish(now, &command.nonce, protocol::Answer::Done);
                assert!(done.is_some_and(|(to, r)| to == from && r.len() <= MAX_DATAGRAM_BYTES));
            }
        }
        assert!(server.running() <= MAX_COMMANDS);
        if mode & 4 != 0 {
            let _ = protocol::decode_from_box(&key(), bytes);
            let _ = protocol::decode_from_box(&key(), &seal(KIND_REPLY, bytes));
            let _ = protocol::decode_to_box(&key(), bytes);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(options) = client::parse_stdin(text) {
            let _ = client::validate(&options);
        }
        let words: Vec<String> = text.split_whitespace().map(String::from).collect();
        if let Ok(options) = client::parse_args(&words) {
            let _ = client::validate(&options);
        }
    }
});

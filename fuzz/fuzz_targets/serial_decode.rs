//! Fuzz `wire::SerialDecoder`: never panics, the result does not depend on how the stream is
//! chunked, decoded frames are bounded, and each one survives a re-encode/decode roundtrip.
//!
//! Input layout: byte 0 = how many chunk sizes follow (mod 16), then that many chunk sizes
//! (used in a cycle; 0 pushes an empty slice and then one byte), then the stream itself.

#![no_main]

use ha_agent::wire::serial::{CRC_BYTES, MAX_COBS_BYTES};
use ha_agent::wire::{
    encode_serial, SerialDecoder, SerialError, MAX_FRAME_BYTES, MAX_SERIAL_BYTES,
};
use libfuzzer_sys::fuzz_target;

type Event = Result<Vec<u8>, SerialError>;

fn run(stream: &[u8], chunk_sizes: &[u8]) -> Vec<Event> {
    let mut decoder = SerialDecoder::new();
    let mut events = Vec::new();
    let mut sink = |r: Result<&[u8], SerialError>| events.push(r.map(<[u8]>::to_vec));
    let mut rest = stream;
    let mut sizes = chunk_sizes.iter().cycle();
    while !rest.is_empty() {
        let size = match sizes.next() {
            // A zero pushes an empty slice, then one byte so that the loop always advances.
            Some(0) => {
                decoder.push(&[], &mut sink);
                1
            }
            Some(&s) => usize::from(s).min(rest.len()),
            None => rest.len(),
        };
        let (chunk, tail) = rest.split_at(size);
        decoder.push(chunk, &mut sink);
        rest = tail;
    }
    events
}

fuzz_target!(|data: &[u8]| {
    let Some((&count, data)) = data.split_first() else {
        return;
    };
    let count = usize::from(count % 16).min(data.len());
    let (chunk_sizes, stream) = data.split_at(count);

    let whole = run(stream, &[]);
    let chunked = run(stream, chunk_sizes);
    assert_eq!(whole, chunked, "chunking changed the result");

    let delimiters = stream.iter().filter(|&&b| b == 0).count();
    assert!(whole.len() <= delimiters + stream.len() / MAX_COBS_BYTES + 1);
    for event in &whole {
        if let Ok(frame) = event {
            assert!(!frame.is_empty() && frame.len() <= MAX_COBS_BYTES - CRC_BYTES);
            if frame.len() <= MAX_FRAME_BYTES {
                let mut out = [0u8; MAX_SERIAL_BYTES];
                let n = encode_serial(frame, &mut out).expect("a decoded frame re-encodes");
                assert_eq!(run(&out[..n], &[]), vec![Ok(frame.clone())]);
            }
        }
    }
});

//! Fuzz every serial relay board's reply decoder (`SerialCodec::decode`: Modbus RTU, Numato,
//! LCUS, KMtronic), the edge where a board's bytes become a typed reply: total, never panics,
//! for every operation, and for every prefix of the input (the executor feeds what it has read
//! so far).

#![no_main]

use ha_agent::devices::relay::kmtronic::Kmtronic;
use ha_agent::devices::relay::lcus::Lcus;
use ha_agent::devices::relay::modbus::Modbus;
use ha_agent::devices::relay::numato::Numato;
use ha_agent::devices::relay::{Op, SerialCodec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, reply)) = data.split_first() else { return };
    let codecs: [&dyn SerialCodec; 5] = [
        &Modbus { address: 1 + selector % 247, coil: u16::from(selector) },
        &Numato { channel: selector % 36 },
        &Lcus { channel: selector.max(1), status_query: true },
        &Lcus { channel: selector.max(1), status_query: false },
        &Kmtronic { channel: 1 + selector % 8 },
    ];
    for codec in codecs {
        for op in [Op::PowerOn, Op::PowerOff, Op::ReadState] {
            let _ = codec.encode(op);
            let _ = codec.expects_reply(op);
            for end in 0..=reply.len().min(64) {
                let _ = codec.decode(op, &reply[..end]);
            }
            let _ = codec.decode(op, reply);
        }
    }
});

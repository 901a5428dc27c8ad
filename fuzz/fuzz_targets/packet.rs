//! Arbitrary datagrams into `Packet::decode`: it must never panic, must agree
//! with the cheap header peek, and what it accepts must round trip.
#![no_main]

use codec_core::bitstream::{Packet, PacketHeader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let peeked = PacketHeader::peek(data);
    let Ok(packet) = Packet::decode(data) else {
        assert!(peeked.is_err(), "peek accepted a datagram decode rejects");
        return;
    };
    assert_eq!(peeked.ok(), Some(packet.header()));
    let mut bytes = Vec::new();
    packet
        .encode_into(&mut bytes)
        .expect("an accepted packet must re-encode");
    assert_eq!(bytes.len(), data.len());
    // Only padding bits in the last byte may differ.
    let differ = bytes.iter().zip(data).position(|(a, b)| a != b);
    if let Some(first) = differ {
        assert_eq!(first + 1, data.len(), "re-encoding changed byte {first}");
    }
    let mut again = Packet::default();
    Packet::decode_into(&bytes, &mut again).expect("a re-encoded packet must decode");
    assert_eq!(again, packet);
});

//! Arbitrary datagrams through what a receiver does with them: the packet
//! parse, the model check, the jitter buffer's push and pop, and the check
//! of an end-of-stream marker. Nothing may panic; frames play in order; the
//! delay stays within its bounds and the jitter estimate finite.
//!
//! Input: records. A byte `n` below 0xc0 is a datagram of the next `n`
//! bytes, arriving now; a byte `n` from 0xc0 is `n - 0xbf` frame periods of
//! playout, a pop every 20 ms. The first packet that parses sets the model
//! (tag, bits, codebooks) the receiver takes, as its `--model` would.
#![no_main]

use codec_core::bitstream::Packet;
use codec_stream::jitter::{JitterBuffer, JitterConfig, Playout};
use libfuzzer_sys::fuzz_target;

const FRAME_MS: f64 = 20.0;

struct Receiver {
    layout: (u32, u8, u8),
    jitter: JitterBuffer,
    out: Vec<u16>,
    /// The last frame played or concealed, and the resync count then.
    last: Option<(u32, u64)>,
}

impl Receiver {
    fn pop(&mut self) {
        let played = self.jitter.pop(&mut self.out);
        let s = self.jitter.stats();
        if let Playout::Frame { index } | Playout::Missing { index } = played {
            if let Some((prev, resyncs)) = self.last {
                if resyncs == s.resyncs {
                    let step = index.wrapping_sub(prev) as i32;
                    assert!(step > 0, "frame {index} played after {prev}");
                }
            }
            self.last = Some((index, s.resyncs));
        }
        let c = self.jitter.config();
        assert!((c.min_delay_frames..=c.max_delay_frames).contains(&s.target_delay_frames), "{s:?}");
        assert!(s.depth_frames <= c.capacity_frames, "{s:?}");
        assert!(s.jitter_ms.is_finite() && s.jitter_ms >= 0.0, "{s:?}");
    }

    fn accept(&mut self, packet: &Packet, now_ms: f64) {
        if (packet.model_tag, packet.bits, packet.codebooks) != self.layout {
            return;
        }
        if packet.is_end_of_stream() {
            let _ = self.jitter.is_plausible_end(packet.frame_index);
            return;
        }
        let o = self.jitter.push(packet, now_ms);
        assert!(!o.invalid, "a parsed packet of the model's layout was refused");
        let counted = u32::from(o.accepted)
            + u32::from(o.duplicate)
            + u32::from(o.late)
            + u32::from(o.overflow)
            + u32::from(o.stale);
        assert_eq!(counted, u32::from(packet.frames), "{o:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut packet = Packet::default();
    let mut receiver: Option<Receiver> = None;
    let mut now_ms = 0.0;
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        if op >= 0xc0 {
            rest = tail;
            for _ in 0..op - 0xbf {
                now_ms += FRAME_MS;
                if let Some(r) = receiver.as_mut() {
                    r.pop();
                }
            }
            continue;
        }
        let (datagram, after) = tail.split_at(usize::from(op).min(tail.len()));
        rest = after;
        if Packet::decode_into(datagram, &mut packet).is_err() {
            continue;
        }
        let r = receiver.get_or_insert_with(|| {
            let codebooks = usize::from(packet.codebooks);
            Receiver {
                layout: (packet.model_tag, packet.bits, packet.codebooks),
                jitter: JitterBuffer::new(JitterConfig::new(codebooks)),
                out: vec![0; codebooks],
                last: None,
            }
        });
        r.accept(&packet, now_ms);
    }
});

//! The receiving end's socket: datagrams handed to the receiver, and a
//! notice for the first of each kind that is dropped.

use std::net::{SocketAddr, UdpSocket};
use std::time::Instant;

use crate::receiver::{Arrival, FrameReceiver};
use crate::StreamError;

/// The receiving socket, read without blocking between refills of the ring.
pub(super) struct Inbox {
    socket: UdpSocket,
    buf: Vec<u8>,
    notices: crossbeam_channel::Sender<String>,
    /// Which kinds of dropped datagram were reported (each once a call).
    warned: [bool; 5],
}

impl Inbox {
    /// A flood of datagrams must not keep the receiver from the ring.
    const MOST_AT_ONCE: usize = 64;

    pub(super) fn new(socket: UdpSocket, notices: crossbeam_channel::Sender<String>) -> Self {
        Self { socket, buf: vec![0u8; 65536], notices, warned: [false; 5] }
    }

    /// Hands `receiver` what has arrived, each stamped with its time on `epoch`.
    pub(super) fn take_pending(&mut self, receiver: &mut FrameReceiver, epoch: Instant) -> Result<(), StreamError> {
        for _ in 0..Self::MOST_AT_ONCE {
            let (n, from) = match self.socket.recv_from(&mut self.buf) {
                Ok(got) => got,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StreamError::Network(format!("receiving: {e}"))),
            };
            let now_ms = epoch.elapsed().as_secs_f64() * 1000.0;
            let arrival = receiver.accept(&self.buf[..n], now_ms);
            let kind = match arrival {
                Arrival::Foreign => 0,
                Arrival::OtherModel(_) => 1,
                Arrival::OtherSource(_) => 2,
                Arrival::Unauthenticated => 3,
                Arrival::Replayed => 4,
                Arrival::Accepted | Arrival::Stale | Arrival::End => continue,
            };
            // Said once a kind: a flood must not become a flood of messages.
            if let Some(warned) = self.warned.get_mut(kind).filter(|w| !**w) {
                *warned = true;
                let _ = self.notices.send(dropping(arrival, from));
            }
        }
        Ok(())
    }
}

/// The notice for the first datagram of a kind that was dropped.
fn dropping(arrival: Arrival, from: SocketAddr) -> String {
    match arrival {
        Arrival::OtherModel(tag) => format!(
            "dropping packets from {from}: they are for model tag {tag:08x}, not this receiver's \
             (check --model on both ends)"
        ),
        Arrival::OtherSource(ssrc) => {
            format!("dropping packets from {from} of another RTP source (SSRC {ssrc:08x}) while the call goes on")
        }
        Arrival::Unauthenticated => format!(
            "dropping packets from {from} that fail SRTP authentication (another key, forged, or not encrypted)"
        ),
        Arrival::Replayed => format!("dropping SRTP packets from {from} that were received before (replayed)"),
        _ => format!(
            "dropping datagrams from {from} that are not codec RTP packets of this payload type and bitrate \
             (check --payload-type, --model and --stages on both ends)"
        ),
    }
}

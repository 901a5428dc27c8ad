//! What a voice app does with the codec: 20 ms of microphone PCM at a time
//! in, one stream packet per frame out (what would go over UDP), and on the
//! far side packets back to PCM for the speaker.
//!
//! Run: `cargo run --release -p codec-core --example voice_app [input.wav] [output.wav]`
//! (the output goes to the system's temporary folder unless named; the
//! example says where it wrote it).

use std::error::Error;
use std::path::PathBuf;

use codec_core::audio::{read_audio, resample, write_wav};
use codec_core::bitstream::Packet;
use codec_core::{Decoder, Encoder, ModelPackage, RuntimeOptions};

/// The sending side: microphone PCM to datagrams.
struct Sender {
    encoder: Encoder,
    codes: Vec<u16>,
    packet: Packet,
    seq: u32,
}

impl Sender {
    fn new(package: &ModelPackage, stages: usize) -> Result<Self, Box<dyn Error>> {
        // One network call per 20 ms frame: the lowest delay.
        let encoder = Encoder::with_block(package, RuntimeOptions::default(), stages, 1)?;
        let packet = Packet {
            model_tag: package.tag(),
            bits: package.quantizer().bits_per_code(),
            codebooks: encoder.codes_per_frame() as u8,
            frames: 1,
            ..Packet::default()
        };
        Ok(Self { codes: Vec::with_capacity(encoder.codes_per_frame()), encoder, packet, seq: 0 })
    }

    /// Takes any number of samples; calls `send` with each finished frame's datagram.
    fn push(
        &mut self,
        pcm: &[f32],
        datagram: &mut Vec<u8>,
        send: &mut impl FnMut(&[u8]),
    ) -> Result<(), Box<dyn Error>> {
        self.encoder.push(pcm, &mut self.codes)?;
        self.drain(datagram, send)
    }

    fn finish(&mut self, datagram: &mut Vec<u8>, send: &mut impl FnMut(&[u8])) -> Result<(), Box<dyn Error>> {
        self.encoder.flush(&mut self.codes)?;
        self.drain(datagram, send)
    }

    fn drain(&mut self, datagram: &mut Vec<u8>, send: &mut impl FnMut(&[u8])) -> Result<(), Box<dyn Error>> {
        let per_frame = self.encoder.codes_per_frame();
        for frame in self.codes.chunks(per_frame) {
            self.packet.seq = self.seq;
            self.packet.frame_index = self.seq;
            self.packet.codes.clear();
            self.packet.codes.extend_from_slice(frame);
            self.packet.encode_into(datagram)?;
            send(datagram);
            self.seq = self.seq.wrapping_add(1);
        }
        self.codes.clear();
        Ok(())
    }
}

/// The receiving side: datagrams to speaker PCM.
struct Receiver {
    decoder: Decoder,
    packet: Packet,
    tag: u32,
}

impl Receiver {
    fn receive(&mut self, datagram: &[u8], speaker: &mut Vec<f32>) -> Result<(), Box<dyn Error>> {
        Packet::decode_into(datagram, &mut self.packet)?;
        if self.packet.model_tag != self.tag {
            return Err("a packet from another model".into());
        }
        self.decoder.push(&self.packet.codes, speaker)?;
        Ok(())
    }
}

/// Where the decoded audio goes without a second argument: not the working
/// directory, where a run from the repository's root left an untracked file.
fn default_output() -> PathBuf {
    std::env::temp_dir().join("voice_app_out.wav")
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let input = args.next().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("testdata/sample.wav"));
    let output = args.next().map(PathBuf::from).unwrap_or_else(default_output);

    let package = ModelPackage::open("default")?;
    let stages = package.default_stages();
    let mut sender = Sender::new(&package, stages)?;
    let mut receiver = Receiver {
        decoder: Decoder::with_block(&package, RuntimeOptions::default(), stages, 1)?,
        packet: Packet::default(),
        tag: package.tag(),
    };

    let audio = read_audio(&input)?;
    let pcm = resample(&audio.samples, audio.sample_rate, package.sample_rate())?;
    let mut speaker = Vec::with_capacity(pcm.len() + package.hop());
    let mut datagram = Vec::with_capacity(64);
    let (mut packets, mut bytes) = (0usize, 0usize);
    let mut failure = None;
    // Here the "network" hands each datagram straight to the receiver.
    let mut send = |d: &[u8]| {
        packets += 1;
        bytes += d.len();
        if let Err(e) = receiver.receive(d, &mut speaker) {
            failure.get_or_insert(e);
        }
    };
    for chunk in pcm.chunks(package.hop()) {
        sender.push(chunk, &mut datagram, &mut send)?;
    }
    sender.finish(&mut datagram, &mut send)?;
    if let Some(e) = failure {
        return Err(e);
    }
    // The decoder runs one hop behind; the flush frame completed the last one.
    speaker.truncate(pcm.len());
    write_wav(&output, &speaker, package.sample_rate())?;
    let seconds = pcm.len() as f64 / f64::from(package.sample_rate());
    println!(
        "{packets} packets, {:.2} kbps of codes ({:.2} kbps with packet headers), wrote {}",
        package.bitrate(stages) / 1000.0,
        bytes as f64 * 8.0 / seconds / 1000.0,
        output.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_output_is_outside_the_working_directory() {
        let out = super::default_output();
        assert!(out.is_absolute(), "{}", out.display());
        let cwd = std::env::current_dir().expect("cwd");
        assert_ne!(out.parent(), Some(cwd.as_path()), "{}", out.display());
    }
}

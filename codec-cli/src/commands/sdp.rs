//! `codec sdp`: the SDP description of a call's settings, for a peer's
//! stack (or a signalling channel) to set up the other end.

use std::net::IpAddr;

use anyhow::Result;
use clap::Args as ClapArgs;
use codec_stream::SRTP_SUITE;

use crate::model_args::{ModelName, RateArgs};
use crate::rtp_args::RtpArgs;
use crate::stdout::outln;

#[derive(ClapArgs, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelName,
    #[command(flatten)]
    pub rate: RateArgs,
    #[command(flatten)]
    pub rtp: RtpArgs,
    /// UDP port the receiver listens on
    #[arg(long)]
    pub port: u16,
    /// Address the receiver listens on (the c= line)
    #[arg(long, default_value = "127.0.0.1")]
    pub address: IpAddr,
    /// Frames (20 ms each) in a packet, as `codec send --frames-per-packet` (sets a=ptime)
    #[arg(long, default_value_t = 1,
          value_parser = clap::value_parser!(u8).range(1..=i64::from(codec_stream::MAX_FRAMES_PER_PACKET)))]
    pub frames_per_packet: u8,
    /// The SSRC `codec send --ssrc` sends with: adds an a=ssrc line (RFC 5576)
    #[arg(long)]
    pub ssrc: Option<u32>,
}

pub fn run(a: Args) -> Result<()> {
    let package = a.model.open()?;
    let stages = a.rate.stages(&package)?;
    let settings = a.rtp.settings()?;
    let pt = settings.payload_type;
    let q = package.quantizer();
    let frame_ms = package.hop() as f64 * 1000.0 / f64::from(package.sample_rate());
    let ip = if a.address.is_ipv4() { "IP4" } else { "IP6" };
    let profile = if settings.srtp.is_some() { "RTP/SAVP" } else { "RTP/AVP" };
    outln!("v=0")?;
    outln!("o=- 0 0 IN {ip} {}", a.address)?;
    outln!("s=codec call")?;
    outln!("c=IN {ip} {}", a.address)?;
    outln!("t=0 0")?;
    outln!("m=audio {} {profile} {pt}", a.port)?;
    outln!("a=rtpmap:{pt} {}/{}", codec_stream::rtp::ENCODING_NAME, package.sample_rate())?;
    outln!(
        "a=fmtp:{pt} model={}; model-id={}; stages={stages}; codebooks={}; bits={}",
        package.name(),
        package.id().iter().map(|b| format!("{b:02x}")).collect::<String>(),
        q.codes_per_frame(stages),
        q.bits_per_code()
    )?;
    outln!("a=ptime:{}", f64::from(a.frames_per_packet) * frame_ms)?;
    outln!("a=maxptime:{}", f64::from(codec_stream::MAX_FRAMES_PER_PACKET) * frame_ms)?;
    outln!("a=extmap:{} {}", codec_stream::rtp::MODEL_EXTENSION_ID, codec_stream::rtp::MODEL_EXTENSION_URI)?;
    if let Some(ssrc) = a.ssrc {
        outln!("a=ssrc:{ssrc} cname:codec")?;
    }
    if let Some(key) = &settings.srtp {
        // The SDES way to share the key: whoever gets this SDP can hear the call.
        outln!("a=crypto:1 {SRTP_SUITE} inline:{}", key.to_base64())?;
    }
    Ok(())
}

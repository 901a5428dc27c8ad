//! `codec`: encode speech to tokens at 1.5-4 kbps with a neural codec, and back.

mod commands;
mod interrupt;
mod io;
mod model_args;
mod progress;
mod rtp_args;
mod stdout;
mod watermark_args;
mod wording;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "codec", version, about = "Neural speech codec: speech to 1.5-4 kbps tokens and back", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Encode audio (WAV, FLAC, MP3, Ogg Vorbis; any rate, stereo mixed down) into a .tok file
    Encode(commands::encode::Args),
    /// Decode a .tok file into a 16-bit WAV file
    Decode(commands::decode::Args),
    /// Whether audio (or a .tok file) carries the watermark of a key (`encode --watermark`); exit 0 found, 1 not, 2 error
    Detect(commands::detect::Args),
    /// Print a .tok file's header, duration and bitrate
    Info(commands::info::Args),
    /// Encode and decode in one go, printing the bitrate and the speed
    Roundtrip(commands::roundtrip::Args),
    /// List the shipped models and their bitrates
    Models(commands::models::Args),
    /// Hear yourself through the codec: microphone -> encoder -> (simulated network) -> decoder -> speaker
    Loopback(commands::live::LoopbackArgs),
    /// Stream the microphone (or a file) as RTP (or SRTP with --srtp-key) over UDP to `codec receive`
    Send(commands::live::SendArgs),
    /// Play RTP (or SRTP) packets of the codec arriving over UDP (or write them to a file)
    Receive(commands::live::ReceiveArgs),
    /// Print the SDP of a call's settings (model, stages, port, payload type, and the a=crypto line of a key)
    Sdp(commands::sdp::Args),
    /// List audio input and output devices
    Devices(commands::live::DevicesArgs),
    /// Turn a corpus (folder or manifest) into token parts, on every core; resumable, splittable with --shard
    Tokenize(commands::tokenize::Args),
    /// Decode the entries of a token part back into WAV files
    Detokenize(commands::tokenize::DetokenizeArgs),
    /// Codebook use, entropy and perplexity of token parts
    Stats(commands::tokenize::StatsArgs),
}

// Debug builds abort on any allocation inside the audio callbacks (they run
// under `assert_no_alloc`), so the tests that drive real devices catch one.
#[cfg(debug_assertions)]
#[global_allocator]
static ALLOCATOR: assert_no_alloc::AllocDisabler = assert_no_alloc::AllocDisabler;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The commands that write files through temporary ones.
    let writes_files = matches!(
        cli.command,
        Command::Encode(_) | Command::Decode(_) | Command::Roundtrip(_) | Command::Tokenize(_) | Command::Detokenize(_)
    );
    if writes_files {
        interrupt::remove_temps_on_signal();
    }
    let result = match cli.command {
        Command::Encode(a) => commands::encode::run(a),
        Command::Decode(a) => commands::decode::run(a),
        Command::Info(a) => commands::info::run(a),
        Command::Roundtrip(a) => commands::roundtrip::run(a),
        Command::Models(a) => commands::models::run(a),
        Command::Loopback(a) => commands::live::loopback(a),
        Command::Send(a) => commands::live::send(a),
        Command::Receive(a) => commands::live::receive(a),
        Command::Sdp(a) => commands::sdp::run(a),
        Command::Devices(a) => commands::live::devices(a),
        Command::Tokenize(a) => commands::tokenize::run(a),
        Command::Detokenize(a) => commands::tokenize::detokenize(a),
        Command::Stats(a) => commands::tokenize::stats(a),
        // A verdict, not a success: 0 found, 1 not found, 2 an error.
        Command::Detect(a) => {
            return match commands::detect::run(a) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("error: {}", one_line(&e));
                    ExitCode::from(2)
                }
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader of our stdout has gone (`| head`): it wanted no more.
        Err(e) if stdout::is_closed_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line. Some library errors already quote
/// their cause in their message; it is not repeated.
pub(crate) fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}

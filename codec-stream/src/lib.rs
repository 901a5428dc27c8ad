//! The realtime side of the codec: from microphone to bitstream to speaker.

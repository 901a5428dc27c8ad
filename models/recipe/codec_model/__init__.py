"""The codec's networks, quantizers and DSP, as trained and exported."""

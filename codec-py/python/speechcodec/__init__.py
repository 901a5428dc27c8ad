"""A neural speech codec: speech at any rate to 1.5-4 kbps of tokens and back.

    import speechcodec
    model = speechcodec.Model()                      # the default model
    codes = model.encode(audio, sample_rate=16000)   # uint16 [frames, codebooks]
    pcm = model.decode(codes)                        # float32 at model.sample_rate
"""

from ._speechcodec import CodecError, Model, read_tok

__all__ = ["CodecError", "Model", "read_tok"]

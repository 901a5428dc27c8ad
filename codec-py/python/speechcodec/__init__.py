"""A neural speech codec: speech at any rate to 1.5-4 kbps of tokens and back.

    import speechcodec
    model = speechcodec.Model()                      # the default model
    codes = model.encode(audio, sample_rate=16000)   # uint16 [frames, codebooks]
    pcm = model.decode(codes)                        # float32 at model.sample_rate

Streaming: ``Encoder(model).push(piece)`` / ``.flush()`` and
``Decoder(model).push(codes)``. Files: ``read_tok``/``write_tok`` for ``.tok``
files, ``read_parts``/``write_part`` for the parts of ``codec tokenize``.

The wheel carries ONNX Runtime and the shipped models. ``ORT_DYLIB_PATH``
(a ``libonnxruntime.so``) and ``CODEC_MODELS`` (a folder of model packages)
point elsewhere; ``Model(path)`` opens a package folder by path.
"""

import os as _os

from . import _speechcodec
from ._speechcodec import (
    CodecError,
    Decoder,
    Encoder,
    Model,
    Parts,
    list_inputs,
    read_audio,
    read_parts,
    read_tok,
    write_part,
    write_tok,
)

_speechcodec._use_bundled(_os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "_data"))

__all__ = [
    "CodecError",
    "Decoder",
    "Encoder",
    "Model",
    "Parts",
    "list_inputs",
    "read_audio",
    "read_parts",
    "read_tok",
    "write_part",
    "write_tok",
]

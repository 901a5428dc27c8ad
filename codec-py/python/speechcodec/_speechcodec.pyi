"""Type stubs of the Rust extension; the docstrings are the extension's own."""

import os
from collections.abc import Iterable, Iterator
from typing import List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

_Path = Union[str, os.PathLike[str]]
#: float32, float64 or int16; ``[samples]`` or ``[channels, samples]`` (mixed down).
Audio = Union[npt.NDArray[np.float32], npt.NDArray[np.float64], npt.NDArray[np.int16]]
#: ``[frames, codebooks]`` of uint16, int32 or int64, each below ``Model.codebook_size``.
CodesIn = Union[npt.NDArray[np.uint16], npt.NDArray[np.int32], npt.NDArray[np.int64]]
Codes = npt.NDArray[np.uint16]
Pcm = npt.NDArray[np.float32]

class CodecError(Exception):
    """An error of the codec, with the message the CLI prints."""

class Model:
    """A model package, opened by name (``"default"``, ``"mcrvq"``, ``"grvq"``)
    or by the path of a package folder, as ``codec --model`` does.

    ``device`` is ``"cpu"``, ``"cuda"`` or ``"tensorrt"`` (falling back to the
    CPU); ``threads`` the threads inside each network call (default 1, at
    most 256: more raises ``ValueError``).
    Raises ``CodecError`` for a missing or broken package or ONNX Runtime.
    """

    def __init__(self, name_or_path: str = "default", device: str = "cpu", threads: Optional[int] = None) -> None: ...
    @property
    def name(self) -> str:
        """The model's name."""
    @property
    def sample_rate(self) -> int:
        """PCM rate of ``decode``'s output, in Hz."""
    @property
    def hop(self) -> int:
        """Samples a frame of codes stands for, at ``sample_rate``."""
    @property
    def frame_rate(self) -> float:
        """Frames of codes a second."""
    @property
    def decoder_delay(self) -> int:
        """Samples the decoder's output lags the frames it got: ``hop``, or a hop
        and a half for a model that synthesizes two frames a token."""
    @property
    def codebooks(self) -> int:
        """Codes a frame at the default stages."""
    @property
    def codebook_size(self) -> int:
        """Entries in each codebook: every code is below this."""
    @property
    def stages(self) -> Tuple[int, int, int]:
        """``(fewest, most, default)`` stages."""
    def encode(
        self,
        audio: Audio,
        sample_rate: int,
        stages: Optional[int] = None,
        watermark: Optional[_Path] = None,
        message: Optional[str] = None,
    ) -> Codes:
        """Encodes ``audio`` (``[samples]`` or ``[channels, samples]``, mixed down)
        at ``sample_rate`` Hz to codes, uint16 ``[frames, codebooks]``: the codes
        ``codec encode`` writes. ``TypeError`` for another dtype, ``ValueError``
        for NaN or infinite samples or a bad shape (soundfile's ``[samples,
        channels]`` among them: pass ``audio.T``), ``CodecError`` for empty
        audio or a stage count the model lacks. ``watermark``: a key file's path
        to embed its watermark and ``message`` (1 to 32 characters of 0 and 1),
        as ``codec encode --watermark``; ``ValueError`` for a bad key or message."""
    def detect_watermark(
        self, audio: Audio, sample_rate: int, key: _Path, threshold: float = 1e-6
    ) -> dict:
        """Whether ``audio`` carries the watermark of the key in the file ``key``,
        as ``codec detect`` says: ``{"found": bool, "false_alarm": float,
        "message": str | None, "seconds": [(start, end), ...]}``."""
    def decode(
        self, codes: CodesIn, sample_rate: Optional[int] = None, original_len: Optional[int] = None
    ) -> Pcm:
        """Decodes codes ``[frames, codebooks]`` to float32 PCM at the model's rate
        (or ``sample_rate``), trimmed to ``original_len`` (samples at the model's
        rate) as ``codec decode`` trims to the length a token file records;
        without it, ``frames * hop - decoder_delay`` samples, all the frames
        make. ``CodecError`` for a code outside its codebook, ``ValueError``
        for an ``original_len`` the frames do not cover."""

class Encoder:
    """Audio in pieces of any size to codes. The codes of a whole stream are
    ``Model.encode``'s: identical when the stream is pushed at once, and all
    but a rare code tipped to its neighbour (float rounding of smaller
    network calls) when pushed in small pieces. ``sample_rate`` is the
    input's rate (default: the model's); the input is converted on the way.
    One thread at a time may use an encoder."""

    def __init__(self, model: Model, sample_rate: Optional[int] = None, stages: Optional[int] = None) -> None: ...
    def push(self, audio: Audio) -> Codes:
        """Takes the next piece of audio and returns the codes of the frames it
        completes, uint16 ``[frames, codebooks]`` (often zero frames)."""
    def flush(self) -> Codes:
        """Ends the stream: returns the codes of the last frames and makes ready
        for the next stream. ``CodecError`` if nothing was pushed."""
    def reset(self) -> None:
        """Drops the stream under way: back to the state of a new encoder."""
    @property
    def codebooks(self) -> int:
        """Codes a frame."""
    @property
    def frames(self) -> int:
        """Frames emitted since the stream began."""

class Decoder:
    """Codes in frames of any count to float32 audio at the model's rate,
    ``Model.decoder_delay`` samples behind: a stream of ``n`` frames gives
    ``n * hop - decoder_delay`` samples, ``Model.decode``'s. One thread at a time may use a decoder."""

    def __init__(self, model: Model, stages: Optional[int] = None) -> None: ...
    def push(self, codes: CodesIn) -> Pcm:
        """Decodes frames ``[frames, codebooks]`` (zero frames is fine) and returns
        the samples they complete."""
    def conceal(self) -> Pcm:
        """Stands in for one lost frame: its hop of samples, faded after the
        first of a run and silent after eight."""
    def flush(self) -> Pcm:
        """Ends the stream and makes ready for the next; returns no samples (the
        stream's audio has all come out of ``push``)."""
    def reset(self) -> None:
        """Drops the stream under way: back to the state of a new decoder."""
    @property
    def codebooks(self) -> int:
        """Codes a frame."""
    @property
    def frames(self) -> int:
        """Frames decoded since the stream began."""

class Parts(Iterator[Tuple[str, Codes]]):
    """The entries of token parts as ``(id, codes)``, one part in memory at a time."""

    def __iter__(self) -> "Parts": ...
    def __next__(self) -> Tuple[str, Codes]: ...

def read_tok(path: _Path) -> Codes:
    """The codes of a ``.tok`` file, uint16 ``[frames, codebooks]``. Only a regular
    file is read (a FIFO or a device raises ``CodecError``), no further than its header says."""

def write_tok(path: _Path, codes: CodesIn, model: Model, original_len: Optional[int] = None) -> None:
    """Writes ``model``'s codes as a ``.tok`` file: the bytes ``codec encode`` writes
    for the same codes and ``original_len`` (samples at the model's rate, at
    most ``frames * hop``; default ``frames * hop - decoder_delay``). Written
    whole or not at all."""

def read_parts(path: _Path) -> Parts:
    """The entries of a ``codec tokenize`` output folder (or of one part, by its
    ``.jsonl`` or ``.safetensors`` path), in part order, as ``(id, codes)``;
    entries that failed to tokenize are skipped."""

def write_part(folder: _Path, stem: str, model: Model, entries: Iterable[Tuple[str, CodesIn]]) -> None:
    """Writes the part ``stem`` (``STEM.safetensors`` and ``STEM.jsonl``) into
    ``folder``, created if missing; ``codec detokenize`` decodes it."""

def list_inputs(path: _Path) -> List[Tuple[str, str]]:
    """The files of a corpus as ``codec tokenize`` lists them, sorted by id: a list
    of ``(id, path)``. ``path`` is a folder (searched recursively for audio
    files) or a manifest (one path a line, or JSON lines with ``path`` and ``id``):
    a regular file of at most 1 GiB, or ``CodecError``."""

def read_audio(source: Union[_Path, bytes]) -> Tuple[Pcm, int]:
    """Decodes an audio file (by path, or its bytes) as ``codec`` reads one:
    ``(samples, sample_rate)``, samples float32 mono at the file's rate."""

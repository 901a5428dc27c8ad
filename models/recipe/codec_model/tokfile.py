"""Reader for the Rust codec's `.tok` files (see codec-core/src/bitstream/token_file.rs).

Layout, all integers little-endian::

    magic b"CDCT" | version u16 (=1) | flags u16 | name_len u8 | name
    | model_hash 32 B | sample_rate u32 | hop u32 | codebooks u8 | bits u8
    | groups u8 | stages u8 | frames u32 | original_len u64 | payload_len u32
    | payload (codes bit-packed MSB-first, frame-major) | crc32 u32

The CRC (zlib's crc32 over every byte before it) is checked before any field
is trusted, so a damaged file raises `TokFileError` rather than yielding odd
parameters. Codes within a frame are stage-major: `[g0s0, g1s0, g0s1, ...]`.

    tok = read_tok("speech.tok")
    tok.codes            # uint16 [frames, codebooks]
    tok.by_codebook()    # uint16 [codebooks, frames]
"""

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np

MAGIC = b"CDCT"
VERSION = 1
# magic, version, flags, name_len; then after the name: the fixed fields.
_PREFIX = struct.Struct("<4sHHB")
_FIXED = struct.Struct("<32sIIBBBBIQI")
_CRC_LEN = 4


class TokFileError(ValueError):
    """A `.tok` file that is truncated, corrupt, or of an unknown version."""


@dataclass
class TokFile:
    model_name: str
    model_hash: bytes
    sample_rate: int
    hop: int
    codebooks: int
    bits: int
    groups: int
    stages: int
    frames: int
    original_len: int
    codes: np.ndarray  # uint16 [frames, codebooks]
    size: int  # bytes of the whole file, header and CRC included

    @property
    def seconds(self) -> float:
        return self.original_len / self.sample_rate

    @property
    def code_bitrate(self) -> float:
        """Bits per second of the codes alone: codebooks * bits * rate / hop."""
        return self.codebooks * self.bits * self.sample_rate / self.hop

    @property
    def file_bitrate(self) -> float:
        """Bits per second of the whole file (header and CRC included) over the audio's length."""
        return self.size * 8 / self.seconds if self.original_len else float("nan")

    def by_codebook(self) -> np.ndarray:
        """Codes as [codebooks, frames]; row j is stage j // groups, group j % groups."""
        return np.ascontiguousarray(self.codes.T)


def unpack_codes(payload: bytes, count: int, bits: int) -> np.ndarray:
    """`count` codes of `bits` bits each, packed MSB-first, as uint16."""
    need = (count * bits + 7) // 8
    if len(payload) < need:
        raise TokFileError(f"payload holds {len(payload)} bytes, {need} needed")
    if count == 0:
        return np.zeros(0, dtype=np.uint16)
    flat = np.unpackbits(np.frombuffer(payload, dtype=np.uint8, count=need))[: count * bits]
    weights = (1 << np.arange(bits - 1, -1, -1)).astype(np.uint32)
    return (flat.reshape(count, bits).astype(np.uint32) @ weights).astype(np.uint16)


def parse_tok(data: bytes) -> TokFile:
    """Parses and checks the bytes of a whole `.tok` file."""
    if len(data) < _PREFIX.size:
        raise TokFileError(f"truncated: {len(data)} bytes")
    magic, version, flags, name_len = _PREFIX.unpack_from(data, 0)
    if magic != MAGIC:
        raise TokFileError(f"not a .tok file (magic {magic!r})")
    if version != VERSION:
        raise TokFileError(f"unsupported version {version}")
    header_end = _PREFIX.size + name_len + _FIXED.size
    if len(data) < header_end + _CRC_LEN:
        raise TokFileError(f"truncated header: {len(data)} bytes")
    (model_hash, sample_rate, hop, codebooks, bits, groups, stages, frames, original_len,
     payload_len) = _FIXED.unpack_from(data, _PREFIX.size + name_len)
    total = header_end + payload_len + _CRC_LEN
    if len(data) != total:
        raise TokFileError(f"length {len(data)} bytes, header says {total}")
    (stored,) = struct.unpack_from("<I", data, total - _CRC_LEN)
    computed = zlib.crc32(data[: total - _CRC_LEN]) & 0xFFFFFFFF
    if stored != computed:
        raise TokFileError(f"CRC mismatch: stored {stored:08x}, computed {computed:08x}")
    if flags != 0:
        raise TokFileError(f"unknown flags {flags:#06x}")
    if not 1 <= bits <= 16 or codebooks == 0 or groups * stages != codebooks:
        raise TokFileError(f"bad layout: codebooks {codebooks}, bits {bits}, groups {groups}, stages {stages}")
    if hop == 0 or sample_rate == 0 or original_len > frames * hop:
        raise TokFileError(f"bad timing: rate {sample_rate}, hop {hop}, frames {frames}, length {original_len}")
    count = frames * codebooks
    if payload_len != (count * bits + 7) // 8:
        raise TokFileError(f"payload_len {payload_len} does not fit {count} codes of {bits} bits")
    codes = unpack_codes(data[header_end : header_end + payload_len], count, bits)
    try:
        name = data[_PREFIX.size : _PREFIX.size + name_len].decode("utf-8")
    except UnicodeDecodeError as e:
        raise TokFileError(f"model name is not UTF-8: {e}") from None
    return TokFile(
        model_name=name,
        model_hash=bytes(model_hash),
        sample_rate=sample_rate,
        hop=hop,
        codebooks=codebooks,
        bits=bits,
        groups=groups,
        stages=stages,
        frames=frames,
        original_len=original_len,
        codes=codes.reshape(frames, codebooks),
        size=len(data),
    )


def read_tok(path: Union[str, Path]) -> TokFile:
    return parse_tok(Path(path).read_bytes())

"""The speech of Beneath a Steel Sky (Debian's `beneath-a-steel-sky`,
DATA_SURVEY.md tier B): about 2 h of acted English dialogue by a British
cast, unsigned 8-bit mono at 11,025 Hz inside `sky.dsk`, most of it packed
with RNC ProPack method 1.

Everything here reads a file a stranger could have made: every length and
offset is checked against the data and against MAX_UNPACKED before anything
is allocated, and a bad file raises ValueError, never more.

- `speech_clips(dnr, dsk)` yields (file number, PCM bytes) for each speech file.
- `rnc1_unpack(packed)` unpacks one RNC method 1 stream and checks both CRCs.

Usage: python bass_speech.py DNR DSK   (lists the clips and their lengths)
"""

import struct
import sys
from pathlib import Path

# Speech lives at file numbers 50000-59999; 60203 and up are sound effects.
SPEECH_FILES = range(50000, 60000)
RATE = 11025
HEADER = 22   # each file's header: eleven 16-bit words
TRAILER = 64  # bytes after each speech clip's samples that are not sound
# The longest speech clip unpacks to well under 1 MB; anything far above is a bad file.
MAX_UNPACKED = 16 << 20
# sky.dnr of the CD version is 40 KB (5,097 entries).
MAX_DNR = 1 << 20


def _crc_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16 with the reflected polynomial 0xA001 and initial 0, as RNC stores it."""
    crc = 0
    for b in data:
        crc = _CRC[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc


class _Bits:
    """RNC's bit stream: 16-bit little-endian words read from the low bit up,
    with runs of literal bytes between them. `lo` holds the next 16 bits to
    be read, `hi` the `count` bits after them; `pos` is where `hi`'s word
    starts, which is where a run of literal bytes would begin."""

    def __init__(self, data: bytes):
        self.data = data + b"\0\0\0\0"  # a stream may look ahead past its end
        self.end = len(data)
        self.pos, self.lo, self.hi, self.count = 0, self._word(0), 0, 0

    def _word(self, at: int) -> int:
        return self.data[at] | self.data[at + 1] << 8 if at + 1 < len(self.data) else 0

    def _shift(self, n: int):
        both = (self.hi << 16 | self.lo) >> n
        self.lo, self.hi = both & 0xFFFF, (both >> 16) & 0xFFFF

    def read(self, n: int) -> int:
        value = self.lo & ((1 << n) - 1)
        if self.count < n:
            self._shift(self.count)
            n -= self.count
            self.pos += 2
            if self.pos > self.end + 2:
                raise ValueError("RNC stream runs past its end")
            self.hi, self.count = self._word(self.pos), 16
        self._shift(n)
        self.count -= n
        return value

    def literals(self, n: int) -> bytes:
        if self.pos + n > self.end:
            raise ValueError("RNC literal run runs past the end of the stream")
        run = self.data[self.pos : self.pos + n]
        self.pos += n
        a, b, c = self._word(self.pos), self._word(self.pos + 2), self.count
        self.lo = (self.lo & ((1 << c) - 1)) | (a << c) & 0xFFFF
        self.hi = ((a >> (16 - c)) | (b << c)) & 0xFFFF
        return run


def _table(bits: _Bits):
    """A Huffman table: [(mask, code as read, code length, symbol)], shortest codes first."""
    n = bits.read(5)
    lengths = [bits.read(4) for _ in range(n)]
    table, code = [], 0  # canonical codes, MSB first, as 16-bit left-aligned values
    for length in range(1, 17):
        for symbol, l in enumerate(lengths):
            if l == length:
                # The stream is read from the low bit up, so the code is seen bit-reversed.
                msb_first = code >> (16 - length)
                reversed_code = int(f"{msb_first:0{length}b}"[::-1], 2)
                table.append(((1 << length) - 1, reversed_code, length, symbol))
                code += 1 << (16 - length)
                if code > 1 << 16:
                    raise ValueError("RNC Huffman table over-subscribed")
    return table


def _value(bits: _Bits, table) -> int:
    """A symbol, then its extra bits: symbol s >= 2 stands for 2^(s-1) + s-1 more bits."""
    for mask, code, length, symbol in table:
        if bits.lo & mask == code:
            bits.read(length)
            if symbol < 2:
                return symbol
            return bits.read(symbol - 1) | (1 << (symbol - 1))
    raise ValueError("RNC code not in its table")


def rnc1_unpack(packed: bytes, max_unpacked: int = MAX_UNPACKED) -> bytes:
    if len(packed) < 18 or packed[:4] != b"RNC\x01":
        raise ValueError("not an RNC method 1 stream")
    unpacked_len, packed_len, crc_unpacked, crc_packed = struct.unpack(">IIHH", packed[4:16])
    blocks = packed[17]
    if unpacked_len > max_unpacked:
        raise ValueError(f"RNC stream claims {unpacked_len} unpacked bytes (at most {max_unpacked})")
    body = packed[18 : 18 + packed_len]
    if len(body) != packed_len:
        raise ValueError("RNC stream shorter than its header says")
    if crc16(body) != crc_packed:
        raise ValueError("RNC packed CRC does not match")
    bits = _Bits(body)
    bits.read(2)  # the lock and key flags
    out = bytearray()
    for _ in range(blocks):
        raw, dist, length = _table(bits), _table(bits), _table(bits)
        for left in range(bits.read(16), 0, -1):
            n = _value(bits, raw)
            if n:
                if len(out) + n > unpacked_len:
                    raise ValueError("RNC stream unpacks past its stated length")
                out += bits.literals(n)
            if left > 1:
                back = _value(bits, dist) + 1
                n = _value(bits, length) + 2
                if back > len(out) or len(out) + n > unpacked_len:
                    raise ValueError("RNC match reaches outside the output")
                start = len(out) - back
                if back >= n:
                    out += out[start : start + n]
                else:  # an overlapping copy repeats the last `back` bytes
                    out += (out[start:] * (n // back + 1))[:n]
    if len(out) != unpacked_len:
        raise ValueError(f"RNC stream unpacked to {len(out)} bytes, not {unpacked_len}")
    if crc16(bytes(out)) != crc_unpacked:
        raise ValueError("RNC unpacked CRC does not match")
    return bytes(out)


def directory(dnr: bytes):
    """sky.dnr -> {file number: (offset, size, flags)}."""
    if len(dnr) < 4:
        raise ValueError("sky.dnr too short")
    (count,) = struct.unpack("<I", dnr[:4])
    if 4 + 8 * count > len(dnr):
        raise ValueError(f"sky.dnr names {count} entries but holds {(len(dnr) - 4) // 8}")
    entries = {}
    for i in range(count):
        rec = dnr[4 + 8 * i : 12 + 8 * i]
        number = rec[0] | rec[1] << 8
        offset = rec[2] | rec[3] << 8 | rec[4] << 16
        flags = rec[5] | rec[6] << 8 | rec[7] << 16
        if offset & 0x800000:
            offset = (offset & 0x7FFFFF) << 4
        entries[number] = (offset, flags & 0x3FFFFF, flags)
    return entries


def load(dsk, entry) -> bytes:
    """One file of sky.dsk (an open binary file), unpacked: the bytes after its header."""
    offset, size, flags = entry
    dsk.seek(0, 2)
    if size < HEADER or offset + size > dsk.tell():
        raise ValueError("entry lies outside sky.dsk")
    dsk.seek(offset)
    raw = dsk.read(size)
    word0, word6 = struct.unpack_from("<H", raw, 0)[0], struct.unpack_from("<H", raw, 12)[0]
    stored = bool(flags & 0x800000)
    if stored or not word0 & 0x80:
        return raw[HEADER:]
    total = ((word0 & 0xFF00) << 8) | word6  # the file's unpacked size, its header included
    data = rnc1_unpack(raw[HEADER:])
    if not flags & 0x400000 and len(data) + HEADER != total:
        raise ValueError(f"unpacked to {len(data) + HEADER} bytes, the header says {total}")
    return data


def speech_clips(dnr_path: Path, dsk_path: Path):
    """(file number, unsigned 8-bit PCM at RATE) for every speech file, in number order."""
    for path in (dnr_path, dsk_path):
        # A FIFO or a device could block or never end.
        if not Path(path).is_file():
            raise ValueError(f"{path} is not a regular file")
    with open(dnr_path, "rb") as f:
        dnr = f.read(MAX_DNR + 1)
    if len(dnr) > MAX_DNR:
        raise ValueError(f"{dnr_path} is larger than any sky.dnr ({MAX_DNR} bytes)")
    entries = directory(dnr)
    with open(dsk_path, "rb") as dsk:
        for number in sorted(n for n in entries if n in SPEECH_FILES):
            pcm = load(dsk, entries[number])[:-TRAILER]
            if pcm:
                yield number, pcm


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    total = 0
    try:
        for number, pcm in speech_clips(Path(sys.argv[1]), Path(sys.argv[2])):
            total += len(pcm)
            print(number, f"{len(pcm) / RATE:.2f} s")
    except (ValueError, OSError) as e:
        print(f"bass_speech: {e}", file=sys.stderr)
        return 1
    print(f"{total / RATE / 3600:.2f} h", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

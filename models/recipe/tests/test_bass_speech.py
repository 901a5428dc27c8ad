"""Beneath a Steel Sky's speech (bass_speech.py): RNC method 1 streams made
here by a small packer unpack to what was packed, and bad streams and
directories are refused with ValueError.

  cd models/recipe && python -m unittest discover tests
"""

import io
import os
import random
import struct
import tempfile
import unittest
from pathlib import Path

import bass_speech
from bass_speech import crc16, directory, load, rnc1_unpack, speech_clips


class _Writer:
    """The packer's side of RNC's bit stream: 16-bit words filled from the low
    bit up. A word's place is taken when its first bit is written, and literal
    bytes go at the end, so a literal run sits right after the word that was
    being filled, as the unpacker expects."""

    def __init__(self):
        self.out, self.slot, self.word, self.filled = bytearray(), None, 0, 0

    def bits(self, value: int, n: int):
        for i in range(n):
            if self.slot is None:
                self.slot, self.word, self.filled = len(self.out), 0, 0
                self.out += b"\0\0"
            self.word |= ((value >> i) & 1) << self.filled
            self.filled += 1
            if self.filled == 16:
                self._flush()

    def _flush(self):
        self.out[self.slot : self.slot + 2] = struct.pack("<H", self.word)
        self.slot = None

    def literals(self, data: bytes):
        self.out += data

    def done(self) -> bytes:
        if self.slot is not None:
            self._flush()
        return bytes(self.out)


def _symbol(w: _Writer, value: int):
    """A value through a table whose 16 symbols all have 4-bit codes (symbol s: code s)."""
    s = value if value < 2 else value.bit_length()
    w.bits(int(f"{s:04b}"[::-1], 2), 4)  # read from the low bit up: the code's first bit lowest
    if s >= 2:
        w.bits(value - (1 << (s - 1)), s - 1)


def pack(ops, blocks=None) -> bytes:
    """An RNC method 1 stream from [(literal bytes, (distance, length) or None)],
    the last op without a match; each element of `blocks` is such a list."""
    blocks = blocks or [ops]
    w, out = _Writer(), bytearray()
    w.bits(0, 2)
    for block in blocks:
        for _ in range(3):
            w.bits(16, 5)
            for _ in range(16):
                w.bits(4, 4)
        w.bits(len(block), 16)
        for i, (lits, match) in enumerate(block):
            _symbol(w, len(lits))
            w.literals(lits)
            out += lits
            if i < len(block) - 1:
                distance, length = match
                _symbol(w, distance - 1)
                _symbol(w, length - 2)
                for _ in range(length):
                    # A match reaching before the start (a bad stream, made on purpose) copies zeros.
                    out.append(out[-distance] if distance <= len(out) else 0)
    body = w.done()
    header = b"RNC\x01" + struct.pack(">IIHH", len(out), len(body), crc16(bytes(out)), crc16(body))
    return header + bytes([0, len(blocks)]) + body, bytes(out)


class Rnc(unittest.TestCase):
    def test_literals_and_matches_unpack_to_what_was_packed(self):
        rng = random.Random(0)
        ops = [(b"abc", (3, 9)), (b"", (1, 40)), (bytes(rng.randrange(256) for _ in range(300)), (250, 200)),
               (b"x", (2, 2)), (bytes(rng.randrange(256) for _ in range(77)), None)]
        packed, want = pack(ops)
        self.assertEqual(rnc1_unpack(packed), want)

    def test_every_word_boundary_before_a_literal_run(self):
        # Codes of 4 bits plus 0-5 extra bits start the literal runs at every
        # bit offset within a word.
        for first in range(1, 40):
            ops = [(bytes([first % 256]) * first, (1, 2 + first % 7)), (b"tail" * (first % 3 + 1), None)]
            packed, want = pack(ops)
            self.assertEqual(rnc1_unpack(packed), want, first)

    def test_several_blocks(self):
        packed, want = pack(None, blocks=[[(b"one", (3, 6)), (b"two", None)], [(b"three", None)]])
        self.assertEqual(rnc1_unpack(packed), want)

    def test_bad_streams_are_refused(self):
        packed, _ = pack([(b"hello" * 20, (5, 30)), (b"end", None)])
        cases = {
            "not RNC": b"RNC\x02" + packed[4:],
            "cut short": packed[:-3],
            "packed CRC": packed[:-1] + bytes([packed[-1] ^ 1]),
            "claims too much": packed[:4] + struct.pack(">I", bass_speech.MAX_UNPACKED + 1) + packed[8:],
            "empty": b"",
        }
        for why, data in cases.items():
            with self.assertRaises(ValueError, msg=why):
                rnc1_unpack(data)

    def test_damaged_streams_raise_only_value_errors(self):
        packed, _ = pack([(b"hello world" * 5, (11, 40)), (bytes(range(200)), (100, 60)), (b"end", None)])
        rng = random.Random(1)
        for _ in range(500):
            damaged = bytearray(packed)
            for _ in range(rng.randint(1, 4)):
                damaged[rng.randrange(18, len(damaged))] = rng.randrange(256)
            damaged[14:16] = struct.pack(">H", crc16(bytes(damaged[18:])))  # past the packed CRC
            try:
                rnc1_unpack(bytes(damaged))
            except ValueError:
                pass

    def test_a_match_before_the_start_is_refused(self):
        packed, _ = pack([(b"ab", (5, 3)), (b"", None)])  # reaches 5 back with 2 bytes out
        with self.assertRaises(ValueError):
            rnc1_unpack(packed)

    def test_a_stream_that_unpacks_past_its_stated_length_is_refused(self):
        packed, want = pack([(b"ab", (2, 20)), (b"c", None)])
        short = packed[:4] + struct.pack(">I", len(want) - 5) + packed[8:12] + struct.pack(">H", crc16(want[:-5])) + packed[14:]
        with self.assertRaises(ValueError):
            rnc1_unpack(short)


def _dnr(entries) -> bytes:
    out = struct.pack("<I", len(entries))
    for number, offset, flags in entries:
        out += struct.pack("<H", number) + offset.to_bytes(3, "little") + flags.to_bytes(3, "little")
    return out


class Disk(unittest.TestCase):
    def test_speech_clips_from_a_made_disk(self):
        pcm_a = bytes(range(256)) * 4
        packed, unpacked = pack([(pcm_a[:300], (256, 500)), (pcm_a[:100] + b"\x80" * 64, None)])
        # word 0: bit 7 (packed) and the high byte of the unpacked size with its header; word 6: the low 16 bits.
        total = len(unpacked) + bass_speech.HEADER
        header_packed = struct.pack("<11H", 0x80 | ((total >> 16) << 8), 0, 0, 0, 0, 0, total & 0xFFFF, 0, 0, 0, 0)
        stored_pcm = bytes(range(50, 200)) + b"\x80" * 64
        header_stored = struct.pack("<11H", *([0] * 11))
        file_a = header_packed + packed
        file_b = header_stored + stored_pcm
        file_c = header_stored + b"\x80" * 100  # a sound effect's number: not speech
        dsk = bytearray(32) + file_a
        b_at = (len(dsk) + 15) // 16 * 16
        dsk += bytes(b_at - len(dsk)) + file_b
        c_at = len(dsk)
        dsk += file_c
        dnr = _dnr([(50001, 32, len(file_a)),
                    (50000, 0x800000 | (b_at >> 4), 0x800000 | len(file_b)),  # offset in 16s; stored
                    (60300, c_at, 0x800000 | len(file_c))])
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "sky.dnr").write_bytes(dnr)
            (Path(tmp) / "sky.dsk").write_bytes(bytes(dsk))
            clips = list(speech_clips(Path(tmp) / "sky.dnr", Path(tmp) / "sky.dsk"))
        self.assertEqual([n for n, _ in clips], [50000, 50001])
        self.assertEqual(clips[0][1], stored_pcm[:-64])
        self.assertEqual(clips[1][1], unpacked[:-64])

    def test_what_is_not_a_regular_file_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            fifo = Path(tmp) / "sky.dnr"
            os.mkfifo(fifo)
            with self.assertRaises(ValueError):
                list(speech_clips(fifo, Path(tmp) / "sky.dsk"))
            with self.assertRaises(ValueError):
                list(speech_clips(Path("/dev/zero"), Path("/dev/zero")))

    def test_a_directory_longer_than_its_file_is_refused(self):
        with self.assertRaises(ValueError):
            directory(struct.pack("<I", 1000) + bytes(16))

    def test_an_entry_outside_the_disk_is_refused(self):
        with self.assertRaises(ValueError):
            load(io.BytesIO(bytes(100)), (90, 50, 0x800000))

    def test_a_packed_file_whose_header_disagrees_is_refused(self):
        packed, unpacked = pack([(b"speech" * 30, None)])
        header = struct.pack("<11H", 0x80, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0)  # claims 7 bytes
        disk = io.BytesIO(header + packed)
        with self.assertRaises(ValueError):
            load(disk, (0, len(header + packed), 0))


if __name__ == "__main__":
    unittest.main()

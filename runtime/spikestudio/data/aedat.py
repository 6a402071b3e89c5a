"""AEDAT event files (reference spec §1.4), decoded with numpy into (t, x, y, p) int64 arrays.

* AEDAT 3.1 (DVS128 Gesture, SpikingJelly `load_aedat_v3`): ASCII header lines beginning with '#' up to the
  `#!END-HEADER` line; then packets, each a 28-byte little-endian header (eventType u16, eventSource u16,
  eventSize u32, eventTSOffset u32, eventTSOverflow u32, eventCapacity u32, eventNumber u32, eventValid u32)
  followed by eventCapacity * eventSize bytes. Polarity packets (eventType 1, 8-byte events) are decoded: u32 data
  word with x = bits 17..31, y = bits 2..16, polarity = bit 1 (bit 0 = validity, not filtered, as SpikingJelly),
  then a u32 timestamp (us) OR-ed with (eventTSOverflow << 31). Other packet types are skipped.
* AEDAT 2.0 / jAER (CIFAR10-DVS): '#' header lines, then big-endian u32 pairs (address, timestamp);
  x = (addr & 0xFE) >> 1, y = (addr & 0x7F00) >> 8, p = addr & 1, remapped (CIFAR10-DVS, SpikingJelly) to
  x' = 127 - y, y' = 127 - x, p' = 1 - p.

Every problem is an `errors.DataError` naming the file and what was expected.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from spikestudio.errors import DataError

PACKET_HEADER = struct.Struct("<HHIIIIII")  # 28 bytes
END_HEADER = b"#!END-HEADER"
POLARITY_EVENT = 1


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found (expected {what})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _events(t, x, y, p) -> dict:
    return {"t": np.asarray(t, dtype=np.int64), "x": np.asarray(x, dtype=np.int64),
            "y": np.asarray(y, dtype=np.int64), "p": np.asarray(p, dtype=np.int64)}


def aedat3_header_end(raw: bytes, path) -> int:
    """Offset of the first byte after the `#!END-HEADER` line."""
    pos = 0
    while pos < len(raw):
        nl = raw.find(b"\n", pos)
        end = len(raw) if nl < 0 else nl + 1
        line = raw[pos:end]
        if not line.startswith(b"#"):
            raise DataError(f"{path}: not an AEDAT 3.1 file: header line at byte {pos} does not begin with '#' "
                            f"(expected '#' lines ending with {END_HEADER.decode()})")
        if line.startswith(END_HEADER):
            return end
        pos = end
    raise DataError(f"{path}: truncated AEDAT 3.1 header: no {END_HEADER.decode()} line")


def decode_aedat3(raw: bytes, path="<bytes>") -> dict:
    pos = aedat3_header_end(raw, path)
    ts, xs, ys, ps = [], [], [], []
    n = len(raw)
    while pos < n:
        if n - pos < PACKET_HEADER.size:
            raise DataError(f"{path}: truncated AEDAT 3.1 packet header at byte {pos}: {n - pos} bytes left, "
                            f"expected {PACKET_HEADER.size}")
        etype, _src, esize, _tsoff, overflow, capacity, _number, _valid = PACKET_HEADER.unpack_from(raw, pos)
        pos += PACKET_HEADER.size
        length = capacity * esize
        if n - pos < length:
            raise DataError(f"{path}: truncated AEDAT 3.1 packet at byte {pos - PACKET_HEADER.size}: "
                            f"{n - pos} bytes left, expected {capacity} events x {esize} bytes = {length}")
        if etype == POLARITY_EVENT and capacity:
            if esize != 8:
                raise DataError(f"{path}: polarity packet at byte {pos - PACKET_HEADER.size} has eventSize {esize}, "
                                "expected 8")
            words = np.frombuffer(raw, dtype="<u4", count=2 * capacity, offset=pos).reshape(-1, 2).astype(np.int64)
            data, t = words[:, 0], words[:, 1]
            ts.append(t | (int(overflow) << 31))
            xs.append((data >> 17) & 0x7FFF)
            ys.append((data >> 2) & 0x7FFF)
            ps.append((data >> 1) & 1)
        pos += length
    if not ts:
        return _events([], [], [], [])
    return _events(np.concatenate(ts), np.concatenate(xs), np.concatenate(ys), np.concatenate(ps))


def read_aedat3(path) -> dict:
    """AEDAT 3.1 file -> {"t", "x", "y", "p"} (int64 arrays, file order)."""
    return decode_aedat3(_read(path, "an AEDAT 3.1 recording"), path)


def encode_aedat3_polarity(t, x, y, p, overflow: int = 0, header: bytes = b"#!AER-DAT3.1\r\n") -> bytes:
    """One polarity packet (for tests and fixtures); validity bit set."""
    t = np.asarray(t, dtype=np.int64)
    data = (np.asarray(x, np.int64) << 17) | (np.asarray(y, np.int64) << 2) | (np.asarray(p, np.int64) << 1) | 1
    words = np.stack([data, t & 0xFFFFFFFF], 1).astype("<u4")
    hdr = PACKET_HEADER.pack(POLARITY_EVENT, 1, 8, 4, overflow, len(t), len(t), len(t))
    return header + hdr + words.tobytes()


def aedat2_header_end(raw: bytes) -> int:
    pos = 0
    while pos < len(raw) and raw[pos:pos + 1] == b"#":
        nl = raw.find(b"\n", pos)
        if nl < 0:
            return len(raw)
        pos = nl + 1
    return pos


def decode_aedat2(raw: bytes, path="<bytes>") -> dict:
    """AEDAT 2.0 (big-endian address/timestamp pairs) -> raw fields {"t", "x", "y", "p"} (no remap)."""
    pos = aedat2_header_end(raw)
    body = len(raw) - pos
    if body % 8:
        raise DataError(f"{path}: truncated AEDAT 2.0 data: {body} bytes after the header, expected a multiple of 8 "
                        "(big-endian u32 address, u32 timestamp pairs)")
    words = np.frombuffer(raw, dtype=">u4", offset=pos).reshape(-1, 2).astype(np.int64)
    addr, t = words[:, 0], words[:, 1]
    return _events(t, (addr & 0xFE) >> 1, (addr & 0x7F00) >> 8, addr & 1)


def read_cifar10dvs_aedat(path) -> dict:
    """A CIFAR10-DVS recording with SpikingJelly's remap: x' = 127 - y, y' = 127 - x, p' = 1 - p."""
    ev = decode_aedat2(_read(path, "a CIFAR10-DVS AEDAT 2.0 recording"), path)
    return {"t": ev["t"], "x": 127 - ev["y"], "y": 127 - ev["x"], "p": 1 - ev["p"]}


def encode_aedat2(addr, t, header: bytes = b"#!AER-DAT2.0\r\n# This is a raw AE data file\r\n") -> bytes:
    words = np.stack([np.asarray(addr, np.int64), np.asarray(t, np.int64)], 1).astype(">u4")
    return header + words.tobytes()


def cifar10dvs_address(x_raw, y_raw, p_raw):
    """The raw AEDAT 2.0 address of the given raw fields (inverse of the decode masks)."""
    return (np.asarray(y_raw, np.int64) << 8) | (np.asarray(x_raw, np.int64) << 1) | np.asarray(p_raw, np.int64)

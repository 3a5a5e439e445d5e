"""Test audio for sipp: tones, G.711 u-law, and pcap files of RTP flows."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from sip.loopback import PTIME_SAMPLES, RATE, dominant_hz, tone, ulaw

__all__ = ["PTIME_SAMPLES", "RATE", "dominant_hz", "tone", "ulaw", "write_pcap"]


def _ip_checksum(header: bytes) -> int:
    total = sum(struct.unpack("!10H", header))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def write_pcap(path: Path, flows: list[tuple[int, np.ndarray]], base_port: int = 6000) -> Path:
    """One RTP/PCMU flow per (port offset, audio); sipp sends each to the answered
    port + offset.  Packets 20 ms apart, flows interleaved."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    n = max(len(pcm) for _, pcm in flows) // PTIME_SAMPLES
    for i in range(n):
        for k, (offset, pcm) in enumerate(flows):
            chunk = pcm[i * PTIME_SAMPLES : (i + 1) * PTIME_SAMPLES]
            if len(chunk) < PTIME_SAMPLES:
                continue
            rtp = struct.pack("!BBHII", 0x80, 0x80 if i == 0 else 0, (1000 + i) & 0xFFFF,
                              i * PTIME_SAMPLES, 0x1000 + k) + ulaw(chunk)  # fmt: skip
            udp = struct.pack("!HHHH", 20000 + 2 * k, base_port + offset, 8 + len(rtp), 0) + rtp
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
                             bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))  # fmt: skip
            ip = ip[:10] + struct.pack("!H", _ip_checksum(ip)) + ip[12:]
            frame = b"\x00" * 12 + b"\x08\x00" + ip + udp
            usec = i * 20000
            out.append(struct.pack("<IIII", usec // 1_000_000, usec % 1_000_000, len(frame),
                                   len(frame)) + frame)  # fmt: skip
    path.write_bytes(b"".join(out))
    return path

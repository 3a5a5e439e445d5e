"""One party's audio out of the conference bridge, handed to the asyncio loop.

`onFrameReceived` runs on pjsua2's single bridge thread, for every stream of
every call in turn: it copies the bytes (through the vector's data pointer,
not `bytes(frame.buf)`, which costs ~400 µs), counts samples, schedules the
hand-off and returns.  Everything else happens on the loop.
"""

from __future__ import annotations

import asyncio
import ctypes
import time
from collections.abc import Callable

import numpy as np
import pjsua2 as pj

from assist.frames import FRAME_MS, Frame

# libstdc++ std::vector<unsigned char>: three pointers (begin, end, end of storage).
_VEC = ctypes.POINTER(ctypes.c_void_p * 2)


def frame_bytes(buf: pj.ByteVector) -> bytes:
    begin, end = ctypes.cast(int(buf.this), _VEC).contents
    if not begin or not end or end <= begin:
        return b""
    return ctypes.string_at(begin, end - begin)


Deliver = Callable[[str, str, bytes, int, float], None]  # call_id, party, pcm, samples, arrival


class TapPort(pj.AudioMediaPort):
    """A sink port on the bridge for one party of one SIP dialog.

    Frames are dropped until `begin()` names the assisted call; from then on
    the sample counter (the party's call time) starts at the given offset.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, deliver: Deliver, party: str,
                 rate: int) -> None:  # fmt: skip
        super().__init__()
        self._loop = loop
        self._deliver = deliver
        self.party = party
        self.tap_id: str | None = None
        self.samples = 0
        self.frames = 0
        self.slot = -1  # the call stream's bridge slot we listen to
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, rate, 1, FRAME_MS * 1000, 16)
        self.createPort(f"tap-{party}-{id(self):x}", fmt)

    def begin(self, tap_id: str, offset_samples: int) -> None:
        self.samples = offset_samples
        self.tap_id = tap_id

    def stop(self) -> None:
        self.tap_id = None

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802 (pjsua2 API)
        tap_id = self.tap_id
        if tap_id is None or frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO:
            return
        data = frame_bytes(frame.buf)
        if not data:
            return
        start = self.samples
        self.samples += len(data) // 2
        self.frames += 1
        try:
            self._loop.call_soon_threadsafe(
                self._deliver, tap_id, self.party, data, start, time.monotonic()
            )
        except RuntimeError:  # loop closed while the bridge still runs: drop
            pass


def make_frame(party: str, data: bytes, start: int, rate: int, arrival: float) -> Frame:
    pcm = np.frombuffer(data, dtype=np.int16)
    return Frame(party=party, pcm=pcm, rate=rate, t=start / rate, arrival=arrival)  # type: ignore[arg-type]

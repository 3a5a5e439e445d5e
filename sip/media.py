"""One party's audio out of the conference bridge, handed to the asyncio loop.

`onFrameReceived` runs on pjsua2's single bridge thread, for every stream of
every call in turn: it copies the bytes (through the vector's data pointer,
not `bytes(frame.buf)`, which costs ~400 µs), counts samples, schedules the
hand-off and returns.  Everything else happens on the loop.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import pjsua2 as pj

from assist.frames import FRAME_MS

log = logging.getLogger("assist.sip")

# libstdc++ std::vector<unsigned char>: three pointers (begin, end, end of storage).
_VEC = ctypes.POINTER(ctypes.c_void_p * 2)


def frame_bytes(buf: pj.ByteVector) -> bytes:
    begin, end = ctypes.cast(int(buf.this), _VEC).contents
    if not begin or not end or end <= begin:
        return b""
    return ctypes.string_at(begin, end - begin)


Deliver = Callable[[str, str, bytes, int, float], None]  # call_id, party, pcm, samples, arrival

# Audio a stream carries between its answer and its call's start (the ACK, or a forked
# call's pairing) is kept this long: a lost ACK waits for the 200's retransmission
# (0.5 s, then 1 s more), and a loaded SIP thread runs the ACK's callback late.
EARLY_S = 3.0
EARLY_FRAMES = int(EARLY_S * 1000) // FRAME_MS


class TapPort(pj.AudioMediaPort):
    """A sink port on the bridge for one party of one SIP dialog.

    Frames are dropped until `begin()` names the assisted call; from then on
    the sample counter (the party's call time) starts at the given offset.  Once
    `arm()`ed, the last `EARLY_S` of frames before `begin()` are kept, and
    `begin(..., early=True)` hands them over first, ending at the offset.
    The bridge thread advances the counter and the SIP thread sets or skips it
    (start, late join, hold), so both go through `_lock`: an unguarded
    read-modify-write on one side could lose the other's update.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, deliver: Deliver, party: str,
                 rate: int) -> None:  # fmt: skip
        super().__init__()
        self._loop = loop
        self._deliver = deliver
        self.party = party
        self.tap_id: str | None = None
        self._lock = threading.Lock()
        self._samples = 0
        self.frames = 0
        self.slot = -1  # the call stream's bridge slot we listen to
        self._early: deque[tuple[bytes, float]] | None = None  # (pcm, arrival) before begin
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, rate, 1, FRAME_MS * 1000, 16)
        self.createPort(f"tap-{party}-{id(self):x}", fmt)

    def arm(self) -> None:
        """Keep what the stream sends until `begin()` (SIP thread, before connecting)."""
        with self._lock:
            if self.tap_id is None:
                self._early = deque(maxlen=EARLY_FRAMES)

    @property
    def early_samples(self) -> int:
        """Samples kept so far for `begin(..., early=True)`."""
        with self._lock:
            return sum(len(pcm) // 2 for pcm, _ in self._early or ())

    def begin(self, tap_id: str, offset_samples: int, early: bool = False) -> int:
        """Start the party's call time at `offset_samples`; with `early`, the frames
        kept since `arm()` come first, the last of them ending there (what does not fit
        after call time 0 is dropped).  Their hand-off is scheduled under the lock, so
        the bridge's next frame, which waits for it, cannot overtake them.  Returns the
        samples handed over so."""
        with self._lock:
            kept, self._early = self._early, None
            start, handed = offset_samples, 0
            if early and kept:
                first = len(kept)
                for i in range(len(kept) - 1, -1, -1):
                    size = len(kept[i][0]) // 2
                    if start - size < 0:
                        break
                    start -= size
                    first = i
                handed = offset_samples - start
                for pcm, arrival in list(kept)[first:]:
                    self._hand(tap_id, self.party, pcm, start, arrival)
                    start += len(pcm) // 2
            self._samples = offset_samples
            self.tap_id = tap_id
            return handed

    def skip(self, samples: int) -> None:
        """Move call time on (a hold): the next frame starts that much later."""
        with self._lock:
            self._samples += samples

    @property
    def samples(self) -> int:
        with self._lock:
            return self._samples

    def stop(self) -> None:
        with self._lock:
            self.tap_id = None
            self._early = None

    def reuse(self, party: str) -> None:
        """Serve another dialog's party (ports are reused, never destroyed: sip/ports.py)."""
        with self._lock:
            self.tap_id = None
            self._early = None
            self.party = party
            self._samples = 0
        self.frames = 0
        self.slot = -1

    def onFrameReceived(self, frame: pj.MediaFrame) -> None:  # noqa: N802 (pjsua2 API)
        try:
            self._frame(frame)
        except Exception as exc:  # as text: a kept traceback would hold the frame object
            log.error("tap port %s: %s: %s", self.party, type(exc).__name__, exc)

    def _frame(self, frame: pj.MediaFrame) -> None:
        if frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO:
            return
        if self.tap_id is None and self._early is None:
            return  # not armed: nothing to keep (read without the lock: a hint only)
        data = frame_bytes(frame.buf)
        if not data:
            return
        arrival = time.monotonic()
        with self._lock:
            tap_id = self.tap_id
            if tap_id is None:
                if self._early is not None:
                    self._early.append((data, arrival))
                return
            party = self.party
            start = self._samples
            self._samples += len(data) // 2
        self._hand(tap_id, party, data, start, arrival)

    def _hand(self, tap_id: str, party: str, data: bytes, start: int, arrival: float) -> None:
        self.frames += 1
        try:
            self._loop.call_soon_threadsafe(self._deliver, tap_id, party, data, start, arrival)
        except RuntimeError:  # loop closed while the bridge still runs: drop
            pass

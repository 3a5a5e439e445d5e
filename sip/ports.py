"""The tap ports' lifetime: made on demand, reused, never destroyed.

pjsua2's `AudioMediaPort` cannot be destroyed safely while the conference
bridge runs.  The bridge calls every port's `put_frame` on every 20 ms tick
(an empty frame when nothing transmits to it), and since pjmedia 2.14 removing
a port from the bridge is queued until the bridge's next tick, while the
destructor frees the C++ object (which holds the `pjmedia_port` itself) at
once.  A port dropped by Python was therefore still called by the bridge
thread: mid-destruction (`'TapPort' object has no attribute 'tap_id'`, printed
by the bindings and kept in `sys.last_value` with a pointer to the freed
object, so the next cycle collection crashed), or after it was freed.

So a released port is made inert (it drops frames) and goes back to a free
list, to serve a later call; the C++ side owns the Python object (`__disown__`),
so neither is ever freed, not even at exit after `libDestroy`.  There are at
most as many ports as streams tapped at once, plus those resting.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from sip.media import Deliver, TapPort

# A released port rests this long before reuse, so that no frame of its old
# stream still in the bridge's queue reaches its next call (a tick is 20 ms).
REST = 0.5


class PortPool:
    """SIP thread only."""

    def __init__(self, loop: asyncio.AbstractEventLoop, deliver: Deliver, rate: int) -> None:
        self._loop = loop
        self._deliver = deliver
        self._rate = rate
        self._free: deque[tuple[float, TapPort]] = deque()  # oldest release first
        self.made = 0

    def take(self, party: str) -> TapPort:
        now = time.monotonic()
        if self._free and now - self._free[0][0] >= REST:
            port = self._free.popleft()[1]
            port.reuse(party)
            return port
        port = TapPort(self._loop, self._deliver, party, self._rate)
        port.__disown__()  # C++ keeps it (and so this object) for the process's life
        self.made += 1
        return port

    def give_back(self, port: TapPort) -> None:
        port.stop()
        self._free.append((time.monotonic(), port))

    @property
    def resting(self) -> int:
        return len(self._free)

"""The pjsua2 endpoint's lifecycle, on one thread that pjlib knows.

That thread (`threadCnt = 0`) creates the endpoint, polls SIP events, runs the
jobs other threads queue (`call_soon`) and the timers (`call_later`), and at
the end destroys everything.  pjsua2 is only ever touched there and on the
bridge thread, so no pjsua2 object can be freed on a thread pjlib does not know.

pjsua2's Endpoint can be created once per process.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import queue
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import pjsua2 as pj

from sip.rxhook import RxHook, Screen
from sip.settings import WHEEL_MAX_CALLS, SipSettings
from sip.tcphook import Judge, TcpHook

log = logging.getLogger("assist.sip")

Job = Callable[[], None]


class SipThread:
    """Runs the endpoint; `setup(ep)` returns the account, `tick()` runs each poll,
    `closing(ep)` hangs up and deletes every call before the endpoint is destroyed."""

    def __init__(self, settings: SipSettings, endpoint: Callable[[], pj.Endpoint],
                 setup: Callable[[pj.Endpoint], pj.Account], tick: Job,
                 closing: Callable[[pj.Endpoint], None],
                 screen: Screen | None = None, oversized: Judge | None = None) -> None:  # fmt: skip
        self.settings = settings
        self._make_endpoint = endpoint
        self._setup = setup
        self._tick = tick
        self._closing = closing
        self._screen = screen
        self._oversized = oversized
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._error: str | None = None  # why the endpoint did not start
        self._jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._later: list[tuple[float, Job]] = []  # SIP thread only

    # --- any thread ----------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        self._thread = threading.Thread(target=self._run, name="sip", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("SIP endpoint did not start in time")
        if self._error is not None:
            raise RuntimeError(f"SIP endpoint failed to start: {self._error}")

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def call_soon(self, job: Job) -> None:
        self._jobs.put(job)

    # --- the SIP thread only -----------------------------------------------------------
    def call_later(self, delay: float, job: Job) -> None:
        self._later.append((time.monotonic() + delay, job))

    def _run(self) -> None:
        try:
            ep = self._init()
        except BaseException as exc:  # surfaced by start(), as text: see _init
            self._error = _reason(exc)
            self._ready.set()
            return
        self._ready.set()
        # The cycle collector frees whatever it finds on the thread that happens to
        # trigger it; a pjsua2 object freed on a thread pjlib does not know aborts or
        # crashes the process.  So while the endpoint lives, automatic collection is
        # off and this thread, which pjlib knows, collects instead.
        was_enabled = gc.isenabled()
        gc.disable()
        collector = Collector(time.monotonic())
        try:
            while not self._stopping.is_set():
                ep.libHandleEvents(10)
                self._run_jobs()
                self._tick()
                collector.run(time.monotonic())
        finally:
            self._shutdown(ep)
            if was_enabled:
                gc.enable()

    def _init(self) -> pj.Endpoint:
        ep = self._make_endpoint()
        ep.libCreate()
        try:
            self._configure(ep)
        except BaseException:
            # Destroyed here, on the thread pjlib knows: left to the exception's frames,
            # the endpoint would be freed on another thread, and pjlib aborts.
            ep.libDestroy()
            raise
        return ep

    def _configure(self, ep: pj.Endpoint) -> None:
        s = self.settings
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = False
        cfg.uaConfig.maxCalls = WHEEL_MAX_CALLS
        cfg.uaConfig.userAgent = "assist-sip"
        cfg.logConfig.level = s.log_level
        cfg.logConfig.consoleLevel = s.log_level
        cfg.medConfig.clockRate = s.clock_rate
        cfg.medConfig.sndClockRate = s.clock_rate
        cfg.medConfig.channelCount = 1
        if s.jitter_ms:  # prefetch bounds (ms): latency vs tolerance of jitter
            cfg.medConfig.jbInit = s.jitter_ms[0]
            cfg.medConfig.jbMinPre = s.jitter_ms[0]
            cfg.medConfig.jbMaxPre = s.jitter_ms[1]
        ep.libInit(cfg)
        support_siprec()
        self.rxhook = RxHook(self._screen)
        self.rxhook.install()
        if self._oversized is not None:
            self.tcphook = TcpHook(self._oversized)
            self.tcphook.install()
        ep.audDevManager().setNullDev()
        listeners = ((pj.PJSIP_TRANSPORT_UDP, s.udp_port), (pj.PJSIP_TRANSPORT_TCP, s.tcp_port))
        for kind, port in listeners:
            if port:  # 0: this transport is off
                tcfg = pj.TransportConfig()
                tcfg.port = port
                if s.bound:
                    tcfg.boundAddress = s.bound
                ep.transportCreate(kind, tcfg)
        ep.libStart()
        self._acc = self._setup(ep)
        self._ep = ep

    def _shutdown(self, ep: pj.Endpoint) -> None:
        try:
            self._closing(ep)
            # Every Call must be gone before libDestroy: a later destructor asserts.
            self._later.clear()
            while not self._jobs.empty():
                self._jobs.get_nowait()
            gc.collect()
            self._acc.shutdown()
            del self._acc
            ep.libDestroy()
        except Exception:
            log_error("error while stopping the SIP endpoint")

    def _run_jobs(self) -> None:
        if self._later:
            now = time.monotonic()
            due = [job for at, job in self._later if at <= now]
            self._later = [(at, job) for at, job in self._later if at > now]
            for job in due:
                self._jobs.put(job)
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return
            try:
                job()
            except Exception:
                log_error("SIP job failed")


class Collector:
    """Runs the cycle collector's generations on the SIP thread, young ones often:
    about what automatic collection would do, on a thread of our choosing."""

    PERIODS = (0.1, 1.0, 10.0)  # seconds between collections of generation 0, 1, 2

    def __init__(self, now: float) -> None:
        self._due = [now + p for p in self.PERIODS]

    def run(self, now: float) -> None:
        for gen in (2, 1, 0):  # a collection of a generation includes the younger ones
            if now >= self._due[gen]:
                gc.collect(gen)
                for g in range(gen + 1):
                    self._due[g] = now + self.PERIODS[g]
                return


def guarded(what: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """For pjsua2 callbacks: an exception is logged as text and dropped here.  Left to
    the bindings, its traceback would keep the callback's frames, and the pjsua2
    objects in them, alive until the cycle collector frees them on whatever thread it
    runs: pjlib aborts the process if that thread is not registered."""

    def wrap(fn: Callable[..., None]) -> Callable[..., None]:
        def run(*args: Any) -> None:
            try:
                fn(*args)
            except Exception:
                log_error(what)

        run.__name__ = fn.__name__
        return run

    return wrap


def _reason(exc: BaseException) -> str:
    """pjsua2's Error prints as nothing; its reason and title say what failed."""
    if isinstance(exc, pj.Error):
        return f"{exc.reason} ({exc.title})" if exc.title else str(exc.reason)
    return f"{type(exc).__name__}: {exc}"


def log_error(what: str) -> None:
    """Log the traceback as text: a kept exc_info would keep pjsua2 objects alive, and
    their destructors must never run on a thread pjlib does not know."""
    log.error("%s\n%s", what, traceback.format_exc())


def support_siprec() -> None:
    """Add `siprec` to Supported, or pjsip answers `Require: siprec` with 420."""
    lib = ctypes.CDLL(pj._pjsua2.__file__)
    lib.pjsua_get_pjsip_endpt.restype = ctypes.c_void_p

    class PjStr(ctypes.Structure):
        _fields_ = [("ptr", ctypes.c_char_p), ("slen", ctypes.c_ssize_t)]

    global _SIPREC_TAG  # pjsip keeps the pointer
    _SIPREC_TAG = (PjStr * 1)(PjStr(b"siprec", 6))
    ptr = ctypes.c_void_p
    lib.pjsip_endpt_add_capability.argtypes = [ptr, ptr, ctypes.c_int, ptr, ctypes.c_uint, ptr]
    status = lib.pjsip_endpt_add_capability(lib.pjsua_get_pjsip_endpt(), None,
                                            pj.PJSIP_H_SUPPORTED, None, 1, _SIPREC_TAG)  # fmt: skip
    if status != 0:
        raise RuntimeError(f"cannot add siprec to Supported (pj status {status})")


_SIPREC_TAG: Any = None

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from audio import Track, syllables, write_stereo  # noqa: E402


@pytest.fixture
def interrupted_call(tmp_path: Path):
    """Factory: a short stereo call where the agent talks over the customer.

    Customer talks 1.0-5.0 s; the agent cuts in at 3.0 s for 2.5 s (overlap
    3.0-5.0 s = 2 s); the customer talks again 6.0-9.0 s; the agent answers
    9.5-11.5 s after the customer finished.
    """

    def make(rate: int = 8000, name: str = "call.wav") -> Path:
        c = Track(rate, 12).put(1.0, syllables(4, rate, pitch=220))
        c.put(6.0, syllables(3, rate, pitch=230))
        a = Track(rate, 12).put(3.0, syllables(2.5, rate, per_second=5, pitch=120))
        a.put(9.5, syllables(2, rate, pitch=110))
        return write_stereo(tmp_path / name, c.x, a.x, rate)

    return make


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The SIP tests share one pjsua2 endpoint (one per process) whose threads live
    # until the session ends: run them last, so no other test runs beside them.
    sip = Path(__file__).parent / "sip"
    items.sort(key=lambda item: Path(str(item.path)).is_relative_to(sip))

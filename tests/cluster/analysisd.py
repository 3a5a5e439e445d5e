"""An analysis process for the cluster tests: `python -m assist run` with role "analysis".

It listens on a Unix socket in a short folder of its own (socket paths are at
most 107 bytes, pytest's tmp paths can be longer) and publishes to the given
Redis.  Transcription is off unless `asr` names a model section to add.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class AnalysisProcess:
    def __init__(self, workdir: Path, redis_url: str, name: str = "an1",
                 asr: str = "[asr]\nenabled = false\n") -> None:
        self.name = name
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self._sockdir = tempfile.TemporaryDirectory(prefix="assist-hop-")
        self.socket = str(Path(self._sockdir.name) / "analysis.sock")
        self.config = self.dir / "assist.toml"
        self.config.write_text(f"""data_dir = "{self.dir / 'data'}"
[prompts]
enabled = false
{asr}
[cluster]
role = "analysis"
name = "{name}"
redis_url = "{redis_url}"
analysis_socket = "{self.socket}"
""", encoding="utf-8")
        self.proc: subprocess.Popen[str] | None = None
        self.output: list[str] = []
        self.starts = 0

    def cluster_lines(self) -> str:
        """What a tap's [cluster] section needs to reach this process."""
        return f'role = "tap"\nanalysis_socket = "{self.socket}"\n'

    def start(self, timeout: float = 120.0) -> None:
        self.starts += 1
        log = open(self.dir / f"run{self.starts}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "assist", "--config",
                                      str(self.config), "run"], cwd=ROOT, text=True,
                                     stdout=subprocess.PIPE, stderr=log)
        log.close()
        ready = threading.Event()
        proc = self.proc

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                self.output.append(line)
                if "waiting for taps" in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.1):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start:\n{self.stderr()[-3000:]}")

    def stderr(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.dir.glob("run*.log")))

    def lines(self, words: str) -> list[str]:
        return [ln for ln in self.stderr().splitlines() if words in ln]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def close(self) -> None:
        self.stop()
        self._sockdir.cleanup()

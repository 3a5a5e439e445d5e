"""The SIP tap's import rules, read from the source: `sip/` depends on the frame
contract and the errors of `assist/` only, and its admission and bookkeeping run
without pjsua2."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SIP = Path(__file__).resolve().parents[2] / "sip"
# assist.settings: the pure declare-and-check machinery every config section shares.
ALLOWED = {"assist.frames", "assist.errors", "assist.settings"}


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_sip_uses_only_the_frame_contract_and_errors_of_assist():
    bad = {f"{p.name}: {m}" for p in SIP.glob("*.py") for m in imports(p)
           if (m == "assist" or m.startswith("assist.")) and m not in ALLOWED}  # fmt: skip
    assert not bad


def test_modules_stay_small():
    sizes = {p.name: len(p.read_text().splitlines()) for p in SIP.glob("*.py")}
    assert max(sizes.values()) <= 300, sizes


def test_admission_and_bookkeeping_load_without_pjsua2():
    code = ("import sys, sip.admission, sip.taps, sip.siprec, sip.forked; "
            "print('pjsua2' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=SIP.parent, check=True)  # fmt: skip
    assert out.stdout.strip() == "False"

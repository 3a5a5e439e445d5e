"""The house rules, read from the imports: who may depend on whom, and how big a core gets."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ("assist/detectors", "assist/coach", "assist/call", "assist/audio",
        "assist/events.py", "assist/evidence.py", "assist/frames.py")
SANS_IO = ("assist/detectors", "assist/coach")
FORBIDDEN_IN_SANS_IO = ("asyncio", "websockets", "pjsua2", "threading", "socket",
                        "assist.store", "sqlite3")
CLOCK = ("time", "datetime.now", "datetime.utcnow", "monotonic")


def modules(*under: str) -> list[Path]:
    out: list[Path] = []
    for u in under:
        p = ROOT / u
        out += [p] if p.suffix == ".py" else sorted(p.rglob("*.py"))
    return out


def name_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-local imports count too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    pkg = name_of(path).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    # Imports for type checkers only never run, so they make no dependency at run time.
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and ast.unparse(block.test).endswith("TYPE_CHECKING")
                   for n in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return out


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("path", modules(*SANS_IO), ids=name_of)
def test_detectors_and_coach_do_no_io(path):
    bad = {m for m in imports(path) if within(m, FORBIDDEN_IN_SANS_IO)}
    assert not bad, f"{name_of(path)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", modules("assist/detectors"), ids=name_of)
def test_no_detector_reads_the_clock(path):
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    used = {m for m in imports(path) if within(m, ("time",)) or m.endswith(".monotonic")}
    calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    clock = {c for c in calls if c.endswith(("datetime.now", "datetime.utcnow", "date.today"))
             or c in ("now", "monotonic", "perf_counter")}
    assert not used and not clock, f"{name_of(path)} reads the clock: {used | clock}"


@pytest.mark.parametrize("path", modules("assist"), ids=name_of)
def test_nothing_under_assist_reads_the_environment(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    reads = [ast.unparse(n) for n in ast.walk(tree)
             if isinstance(n, ast.Attribute) and n.attr in ("environ", "getenv")
             and ast.unparse(n.value) == "os"]
    names = imports(path)
    assert not reads and "os.environ" not in names and "os.getenv" not in names, name_of(path)


def test_the_sip_tap_knows_only_the_frame_contract_and_errors():
    # assist.settings is the pure declare-and-check machinery every config section
    # shares (it imports only assist.errors, checked below), so the tap's settings
    # are validated the same way as the rest of the config.
    allowed = ("assist.frames", "assist.errors", "assist.settings")
    settings = ROOT / "assist" / "settings.py"
    assert all(within(m, ("assist.errors",)) for m in imports(settings)
               if within(m, ("assist",)))
    bad = {f"{name_of(p)} -> {m}" for p in modules("sip") for m in imports(p)
           if within(m, ("assist",)) and not within(m, allowed)}
    assert not bad, sorted(bad)


def test_the_panel_server_reaches_no_detector():
    graph = {name_of(p): imports(p) for p in modules("assist")}

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            m = todo.pop()
            for dep in graph.get(m, ()):
                if dep in graph and dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return seen

    for p in modules("assist/panel"):
        if p.name in ("server.py", "fanout.py", "auth.py"):
            bad = {m for m in reach(name_of(p)) if within(m, ("assist.detectors",))}
            assert not bad, f"{name_of(p)} reaches {sorted(bad)}"


def test_no_import_cycles():
    graph = {name_of(p): {m for m in imports(p) if m.startswith(("assist", "sip"))}
             for p in modules("assist", "sip")}
    graph = {m: {d for d in deps if d in graph and d != m} for m, deps in graph.items()}
    # A package's __init__ importing its own modules is not a cycle of the code's design.
    for m, deps in graph.items():
        graph[m] = {d for d in deps if not d.startswith(m + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


# Known to be over, each with its reason; strict, so a fixed one must leave this list.
OVER: dict[str, str] = {}
# evidence.py is declarations only: one small frozen class per event type.
LIMITS = {"assist.evidence": 400}


@pytest.mark.parametrize("path", [
    pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=OVER[name_of(p)]))
    if name_of(p) in OVER else p for p in modules(*CORE)], ids=name_of)
def test_core_modules_stay_small(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    limit = LIMITS.get(name_of(path), 320)
    assert lines <= limit, f"{name_of(path)} has {lines} lines"

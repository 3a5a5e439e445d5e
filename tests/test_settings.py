"""The shared settings machinery: the line-finder and the checks, as properties.

Whatever a valid config file looks like around it (sections in any order,
comments, blank lines, inline tables), a bad value is reported at the line it
is on, under its own key; and the machinery stays pure for the detectors.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assist.config import SECTIONS, load
from assist.errors import ConfigError
from assist.settings import Lines, rules
from tests.test_config import toml

PROPS = settings(max_examples=60, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture])
FIELDS = sorted((name, f.name) for name, cls in SECTIONS.items() for f in dataclasses.fields(cls)
                if rules(cls)[f.name].bad)
FILLER = st.sampled_from(["", "# a comment", "   ", "# [pace] in a comment", "#x = 1"])


@st.composite
def file_with_one_bad_value(draw: st.DrawFn) -> tuple[str, int, str]:
    """A config of default values in shuffled sections, one of them out of range."""
    section, key = draw(st.sampled_from(FIELDS))
    names = draw(st.permutations(list(SECTIONS)))
    lines: list[str] = []
    bad_line = 0
    chosen = set(draw(st.lists(st.sampled_from(names), unique=True, max_size=5))) | {section}
    for name in [n for n in names if n in chosen]:
        lines += draw(st.lists(FILLER, max_size=2))
        lines.append(f"[{name}]" + draw(st.sampled_from(["", "  # section"])))
        defaults = SECTIONS[name]()
        keys = [f.name for f in dataclasses.fields(SECTIONS[name])]
        for k in draw(st.permutations(keys))[: draw(st.integers(0, len(keys)))]:
            if name == section and k == key:
                continue
            if name == "asr" and k == "models":
                continue  # resolved against the file's folder; tested on its own
            lines.append(f"{k} = {toml(getattr(defaults, k))}")
            lines += draw(st.lists(FILLER, max_size=1))
        if name == section:
            bad = draw(st.sampled_from(rules(SECTIONS[name])[key].bad))
            lines.append(f"{key} = {toml(bad)}" + draw(st.sampled_from(["", "  # oops"])))
            bad_line = len(lines)
    return "\n".join(lines) + "\n", bad_line, f"{section}.{key}"


@PROPS
@given(file_with_one_bad_value())
def test_a_bad_value_is_reported_at_its_own_line_and_key(tmp_path_factory, case) -> None:
    text, line, key = case
    p = tmp_path_factory.mktemp("c") / "assist.toml"
    p.write_text(text, encoding="utf-8")
    try:
        load(p)
    except ConfigError as e:
        assert e.where.startswith(f"{p}:{line}: {key}"), (e.where, text)
    else:
        raise AssertionError(f"loaded a bad {key}:\n{text}")


def test_lines_know_arrays_of_tables_nested_tables_and_inline_keys() -> None:
    lines = Lines('a = 1\n[[entry]]\nid = "x"\n[[entry]]\n# c\nid = "y"\n'
                  'trigger = { event = "anger", level = "calm" }\n[entry.spot]\nk = 2\n'
                  's = """\nfake = 1\n"""\n[t."q.r"]\nv = 3\n')
    assert lines.of("a") == 1
    assert (lines.of("entry", 0), lines.of("entry", 0, "id")) == (2, 3)
    assert (lines.of("entry", 1, "id"), lines.of("entry", 1, "trigger", "level")) == (6, 7)
    assert lines.of("entry", 1, "spot", "k") == 9
    assert lines.of("entry", 1, "spot", "fake") == 8  # inside a string: not a key
    assert lines.of("t", "q.r", "v") == 14
    assert lines.of("entry", 1, "missing") == 4  # falls back to the table's header
    assert lines.of("nowhere") is None


def test_the_machinery_is_pure_so_detectors_may_use_it() -> None:
    src = Path(__file__).resolve().parents[1] / "assist" / "settings.py"
    found = set()
    for node in ast.walk(ast.parse(src.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    assert found <= {"__future__", "dataclasses", "difflib", "math", "re", "collections.abc",
                     "typing", "assist.errors"}, found

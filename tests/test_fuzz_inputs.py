"""Whatever arrives from outside gets a clear refusal, never a crash.

Property tests over the parsers that face callers and admins: call recordings,
the config file, SIPREC INVITEs and their metadata.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assist.config import load
from assist.errors import ConfigError, UserError
from assist.taps.wav import read_call

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
WAV_HEAD = (b"RIFF\x24\x08\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00\x40\x1f\x00\x00"
            b"\x00\x7d\x00\x00\x04\x00\x10\x00data\x00\x08\x00\x00")


@FUZZ
@given(st.one_of(st.binary(max_size=400),
                 st.binary(max_size=200).map(lambda b: WAV_HEAD + b),
                 st.tuples(st.integers(0, 43), st.binary(min_size=1, max_size=4)).map(
                     lambda x: WAV_HEAD[:x[0]] + x[1] + WAV_HEAD[x[0] + len(x[1]):])))
def test_any_bytes_as_a_recording_read_or_refused(tmp_path_factory, data: bytes) -> None:
    p = tmp_path_factory.mktemp("w") / "c.wav"
    p.write_bytes(data)
    try:
        rec = read_call(p)
    except UserError as e:
        assert str(e).startswith(str(p))
        return
    assert rec.rate in (8000, 16000) and len(rec.customer) == len(rec.agent) > 0


TOML_BITS = st.sampled_from([
    "[vad]\n", "[pace]\n", "[anger]\n", "[server]\n", "[call]\n", "[asr]\n", "[sip]\n",
    "[prompts]\n", "[[trunks]]\n", "mode = 2\n", "target = -1\n", "port = 99999\n",
    'language = "xx"\n', "tense_on = 0.9\n", 'dirs = [1]\n', "enabled = 'yes'\n",
    'name = "t"\n', 'sources = ["nope"]\n', "hangover = 0\n", "= 1\n", "[\n", '"\n',
    "data_dir = 3\n", "window = 1e309\n", "udp_port = 0\ntcp_port = 0\n",
])


@FUZZ
@given(st.lists(TOML_BITS, max_size=8).map("".join))
def test_any_config_loads_or_names_what_is_wrong(tmp_path_factory, text: str) -> None:
    p = tmp_path_factory.mktemp("c") / "a.toml"
    p.write_text(text, encoding="utf-8")
    try:
        load(p)
    except ConfigError as e:
        assert str(p) in str(e)


@pytest.fixture(scope="module")
def siprec():
    from sip.siprec import Refusal, parse_message, plan
    from sip.trunks import parse_trunks
    from tests.sip.test_siprec import wire

    trunk = parse_trunks('[[trunks]]\nname = "t"\nsources = ["192.0.2.0/24"]\n'
                         "agent_aor = '^sip:(?P<agent>\\\\d{4})@'\n")[0]
    return Refusal, parse_message, plan, trunk, wire("rfc7865.sip")


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 40), st.binary(max_size=12)),
                max_size=4))
def test_a_mangled_siprec_invite_is_planned_or_refused(siprec, edits) -> None:
    Refusal, parse_message, plan, trunk, invite = siprec
    raw = invite
    for at, cut, insert in edits:
        at = at % (len(raw) + 1)
        raw = raw[:at] + insert + raw[at + cut:]
    try:
        p = plan(parse_message(raw), trunk, len(raw))
    except Refusal as r:
        assert 400 <= r.status < 600
        return
    assert {s.role for s in p.streams} <= {"customer", "agent"}


def test_an_entity_bomb_in_the_metadata_is_refused(siprec) -> None:
    Refusal, *_ = siprec
    from sip.siprec import parse_metadata

    bomb = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            '<recording xmlns="urn:ietf:params:xml:ns:recording:1">&b;</recording>')
    with pytest.raises(Refusal) as e:
        parse_metadata(bomb)
    assert e.value.status == 488

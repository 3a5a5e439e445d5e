"""`assist cluster kamailio-cfg`: the [kamailio] section becomes a config Kamailio accepts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from assist.cluster.kamailio import KamailioParams, dispatcher_list, render
from assist.config import load
from assist.errors import ConfigError
from tests.cluster.kamailiod import KAMAILIO, ROOT, have_kamailio

CONFIG = """[kamailio]
host = "10.0.0.2"
port = 5070
taps = ["10.0.0.11:5071", "10.0.0.11:5072", "[2001:db8::7]:5071"]
tap_calls = 3
probe_interval = 5
tap_timeout = 1.5
"""


def cli(tmp_path: Path, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "assist.toml"
    cfg.write_text(text, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "assist", "--config", str(cfg), "cluster",
                           "kamailio-cfg", *args], cwd=ROOT, capture_output=True, text=True)


def test_the_rendered_files_carry_the_section(tmp_path: Path) -> None:
    res = cli(tmp_path, CONFIG, "--out", str(tmp_path / "k"))
    assert res.returncode == 0, res.stderr
    assert "3 tap(s), SIP on 10.0.0.2:5070 (udp, tcp)" in res.stdout
    assert 'proxies = ["10.0.0.2"]' in res.stdout  # what each tap still needs
    cfg = (tmp_path / "k" / "kamailio.cfg").read_text()
    assert "listen=udp:10.0.0.2:5070\nlisten=tcp:10.0.0.2:5070\n" in cfg
    assert 'modparam("dispatcher", "ds_ping_interval", 5)' in cfg
    assert 'modparam("tm", "fr_timer", 1500)' in cfg
    assert f'"list_file", "{(tmp_path / "k" / "dispatcher.list").resolve()}"' in cfg
    assert "{{" not in cfg
    rows = [ln.split() for ln in (tmp_path / "k" / "dispatcher.list").read_text().splitlines()
            if not ln.startswith("#")]  # fmt: skip
    assert rows == [
        ["1", "sip:10.0.0.11:5071;transport=udp", "0", "0", "duid=tap1;maxload=3"],
        ["1", "sip:10.0.0.11:5072;transport=udp", "0", "0", "duid=tap2;maxload=3"],
        ["1", "sip:[2001:db8::7]:5071;transport=udp", "0", "0", "duid=tap3;maxload=3"],
    ]


@pytest.mark.skipif(not have_kamailio(), reason="needs kamailio")
def test_kamailio_accepts_the_rendered_config(tmp_path: Path) -> None:
    # Kamailio checks the script and its modules' parameters without binding the port.
    params = KamailioParams(host="127.0.0.1", port=5070, tcp=False, taps=("127.0.0.1:5071",))
    lst = tmp_path / "dispatcher.list"
    lst.write_text(dispatcher_list(params))
    (tmp_path / "kamailio.cfg").write_text(render(params, lst, "test.toml"))
    res = subprocess.run([KAMAILIO, "-c", "-f", str(tmp_path / "kamailio.cfg")],
                         capture_output=True, text=True)  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert "config file ok" in (res.stdout + res.stderr).lower()


def test_no_taps_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    res = cli(tmp_path, "[kamailio]\nport = 5070\n", "--out", str(tmp_path / "k"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "kamailio.taps: list the tap processes" in res.stderr


@pytest.mark.parametrize("line, expect", [
    ('taps = ["10.0.0.5"]', 'kamailio.taps: must be a list of tap addresses "IP:PORT"'),
    ('taps = ["tap1:5071"]', "kamailio.taps"),
    ('taps = ["10.0.0.5:5071", "10.0.0.5:5071"]', "kamailio.taps"),
    ('host = "0.0.0.0"', "kamailio.host: must be an IP address SBCs reach"),
    ("tap_calls = 5", "kamailio.tap_calls"),
])  # fmt: skip
def test_bad_values_name_file_line_and_key(tmp_path: Path, line: str, expect: str) -> None:
    cfg = tmp_path / "assist.toml"
    cfg.write_text(f"[kamailio]\nport = 5070\n{line}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load(cfg)
    assert str(err.value).startswith(f"{cfg}:3: ") and expect in str(err.value)


def test_proxies_must_be_addresses(tmp_path: Path) -> None:
    cfg = tmp_path / "assist.toml"
    cfg.write_text('[cluster]\nproxies = ["kamailio.local"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r":2: cluster.proxies: must be a list of IP"):
        load(cfg)
    cfg.write_text('[cluster]\nproxies = ["10.0.0.2", "::1"]\n', encoding="utf-8")
    assert load(cfg).cluster.proxies == ("10.0.0.2", "::1")

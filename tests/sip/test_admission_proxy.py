"""Behind a SIP proxy: the proxy's X-Assist-Source names the sender, from the proxy only."""

from __future__ import annotations

import pytest

from sip.admission import SOURCE_HEADER, Gate
from sip.digest import make_nonce, response
from sip.siprec import Refusal
from tests.sip.test_admission import SECRET, TRUNKS
from tests.sip.test_siprec import wire

PROXY = "10.0.0.2"


def gate() -> Gate:
    return Gate(TRUNKS, SECRET, 4, proxies=(PROXY,))


def vouched(*values: str, raw: bytes | None = None) -> bytes:
    raw = raw if raw is not None else wire("rfc7865.sip")
    extra = "".join(f"{SOURCE_HEADER}: {v}\r\n" for v in values)
    return raw.replace(b"\r\n", b"\r\n" + extra.encode(), 1)


def refusal(raw: bytes, src: str) -> Refusal:
    with pytest.raises(Refusal) as err:
        gate().admit(raw, src, 0, now=1000.0)
    return err.value


def test_an_invite_through_the_proxy_is_judged_by_the_sender_it_names():
    adm = gate().admit(vouched("192.0.2.14;transport=udp"), f"{PROXY}:5060", 0, now=1000.0)
    assert adm.trunk.name == "sbc"
    assert gate().who(vouched("192.0.2.14;transport=udp"), f"{PROXY}:5060") == \
        f"192.0.2.14 via proxy {PROXY}:5060"


def test_the_proxys_own_address_admits_nothing():
    r = refusal(wire("rfc7865.sip"), f"{PROXY}:5060")
    assert r.status == 403 and f"0 {SOURCE_HEADER} headers" in r.reason
    r = refusal(vouched("10.9.9.9;transport=udp"), f"{PROXY}:5060")
    assert r.status == 403 and "source 10.9.9.9 (udp) is not allowed" in r.reason


def test_the_sender_transport_is_the_one_the_proxy_names():
    # trunk "sbc" takes UDP only; the proxy-to-tap hop is UDP either way
    r = refusal(vouched("192.0.2.14;transport=tcp"), f"{PROXY}:5060")
    assert r.status == 403 and "source 192.0.2.14 (tcp)" in r.reason


def test_a_header_from_anyone_but_the_proxy_is_ignored():
    # a sender allowed by no trunk names an allowed one: judged by its own address
    r = refusal(vouched("192.0.2.14;transport=udp"), "10.9.9.9:5060")
    assert r.status == 403 and "source 10.9.9.9 (udp)" in r.reason
    # an allowed sender that adds the header is still itself
    adm = gate().admit(vouched("203.0.113.9"), "192.0.2.14:5060", 0, now=1000.0)
    assert adm.trunk.name == "sbc"
    assert gate().who(vouched("203.0.113.9"), "192.0.2.14:5060") == "192.0.2.14:5060"


@pytest.mark.parametrize("values, why", [
    (("192.0.2.14", "192.0.2.15"), f"2 {SOURCE_HEADER} headers"),
    (("sbc.example;transport=udp",), "is not an IP address"),
    (("192.0.2.14;transport=sctp",), "transport 'sctp' is not udp or tcp"),
])  # fmt: skip
def test_a_proxy_header_that_does_not_name_one_sender_is_refused(values, why):
    r = refusal(vouched(*values), f"{PROXY}:5060")
    assert r.status == 403 and why in r.reason


def test_digest_behind_the_proxy_is_bound_to_the_sender_not_the_proxy():
    raw = vouched("198.51.100.7;transport=udp")
    r = refusal(raw, f"{PROXY}:5060")
    assert r.status == 401
    uri = raw.split(b" ", 2)[1].decode()

    def signed(scope: str) -> bytes:
        nonce = make_nonce(SECRET, 1000.0, scope)
        resp = response(username="u", realm="assist", password="p", method="INVITE", uri=uri,
                        nonce=nonce, qop="auth", nc="00000001", cnonce="c")  # fmt: skip
        auth = (f'Authorization: Digest username="u", realm="assist", nonce="{nonce}", '
                f'uri="{uri}", response="{resp}", qop=auth, nc=00000001, cnonce="c"\r\n')
        return raw.replace(b"\r\n", b"\r\n" + auth.encode(), 1)

    adm = gate().admit(signed("198.51.100.7"), f"{PROXY}:5060", 0, now=1001.0)
    assert adm.trunk.name == "auth"
    stale = refusal(signed(PROXY), f"{PROXY}:5060")  # a nonce issued to the proxy itself
    assert stale.status == 401

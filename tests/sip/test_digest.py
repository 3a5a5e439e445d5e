"""Digest maths and the verdicts the tap gives an INVITE's credentials."""

from __future__ import annotations

import pytest

from sip.digest import (
    authenticate,
    challenge,
    make_nonce,
    nonce_age,
    parse_digest,
    response,
    same_target,
)


def test_rfc2617_worked_example():
    # RFC 2617 §3.5: qop=auth
    assert response(username="Mufasa", realm="testrealm@host.com", password="Circle Of Life",
                    method="GET", uri="/dir/index.html",
                    nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", qop="auth", nc="00000001",
                    cnonce="0a4f113b") == "6629fae49393a05397450978507c4ef1"  # fmt: skip


def test_rfc7616_md5_example():
    assert response(username="Mufasa", realm="http-auth@example.org", password="Circle of Life",
                    method="GET", uri="/dir/index.html",
                    nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", qop="auth",
                    nc="00000001", cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
                    ) == "8ca523f5e9506fed4657c9700eebdbec"  # fmt: skip


def test_without_qop_rfc2069_form():
    ha1 = "939e7578ed9e3c518a452acee763bce9"  # RFC 2617's HA1 for Mufasa
    ha2 = "39aff3a2bab6126f332b942af96d3366"
    import hashlib

    want = hashlib.md5(f"{ha1}:abc:{ha2}".encode()).hexdigest()
    assert response(username="Mufasa", realm="testrealm@host.com", password="Circle Of Life",
                    method="GET", uri="/dir/index.html", nonce="abc") == want  # fmt: skip


def test_parse_digest_quoted_unquoted_and_escapes():
    p = parse_digest('Digest username="a\\"b", realm="r, x",nonce="n", uri="sip:x@y",'
                     ' response="ABC", algorithm=MD5, qop=auth, nc=00000001,'
                     ' cnonce="c"')  # fmt: skip
    assert p == {"username": 'a"b', "realm": "r, x", "nonce": "n", "uri": "sip:x@y",
                 "response": "ABC", "algorithm": "MD5", "qop": "auth", "nc": "00000001",
                 "cnonce": "c"}  # fmt: skip
    assert parse_digest('Basic dXNlcjpwYXNz') is None
    assert parse_digest('Digest username="unterminated') is None


SECRET = b"k" * 32
URI = "sip:srs@10.0.0.9:5060"
T0 = 1_700_000_000.0


def creds(nonce, *, user="sbc", password="pw", realm="assist", uri=URI, with_qop=True, **over):
    kw = {"qop": "auth", "nc": "00000001", "cnonce": "0a4f113b"} if with_qop else {}
    r = response(username=user, realm=realm, password=password, method="INVITE", uri=uri,
                 nonce=nonce, **kw)  # fmt: skip
    fields = {"username": user, "realm": realm, "nonce": nonce, "uri": uri, "response": r,
              "algorithm": "MD5", **kw, **over}  # fmt: skip
    return "Digest " + ", ".join(f'{k}="{v}"' for k, v in fields.items())


def check(headers, now=T0 + 1, scope="10.0.0.5"):
    return authenticate(headers, method="INVITE", request_uri=URI, username="sbc",
                        password="pw", realm="assist", secret=SECRET, now=now,
                        scope=scope)  # fmt: skip


def test_no_credentials_gets_a_challenge():
    v = check([])
    assert v.status == 401 and not v.ok
    h = v.www_authenticate
    assert h.startswith('Digest realm="assist", nonce="') and 'algorithm=MD5, qop="auth"' in h
    assert "stale" not in h
    nonce = parse_digest(h)["nonce"]
    assert nonce_age(SECRET, nonce, T0 + 2, "10.0.0.5") == pytest.approx(1, abs=1)


@pytest.mark.parametrize("qop", [True, False])
def test_right_credentials_pass(qop):
    nonce = make_nonce(SECRET, T0, "10.0.0.5")
    v = check([creds(nonce, with_qop=qop)])
    assert v.ok and v.user == "sbc"


def test_wrong_password_is_forbidden_and_reason_leaks_nothing():
    nonce = make_nonce(SECRET, T0, "10.0.0.5")
    header = creds(nonce, password="guess")
    v = check([header])
    assert v.status == 403 and v.www_authenticate is None
    assert "sbc" in v.reason
    assert "pw" not in v.reason
    assert parse_digest(header)["response"] not in v.reason


def test_wrong_user_is_forbidden():
    nonce = make_nonce(SECRET, T0, "10.0.0.5")
    assert check([creds(nonce, user="other")]).status == 403


def test_stale_nonce_with_right_credentials_gets_stale_challenge():
    nonce = make_nonce(SECRET, T0, "10.0.0.5")
    v = check([creds(nonce)], now=T0 + 301)
    assert v.status == 401 and "expired" in v.reason
    assert v.www_authenticate.endswith("stale=true")
    fresh = parse_digest(v.www_authenticate)["nonce"]
    assert fresh != nonce and check([creds(fresh)], now=T0 + 302).ok


def test_stale_nonce_with_wrong_credentials_is_still_forbidden():
    nonce = make_nonce(SECRET, T0, "10.0.0.5")
    assert check([creds(nonce, password="x")], now=T0 + 400).status == 403


def test_nonce_from_elsewhere_or_for_another_source_is_rechallenged():
    foreign = make_nonce(b"other secret", T0, "10.0.0.5")
    v = check([creds(foreign)])
    assert v.status == 401 and "stale=true" in v.www_authenticate
    other_src = make_nonce(SECRET, T0, "10.0.0.6")
    assert check([creds(other_src)]).status == 401
    assert check([creds("garbage")]).status == 401


def test_uri_realm_algorithm_and_qop_are_checked():
    nonce = make_nonce(SECRET, T0, "10.0.0.5")
    assert check([creds(nonce, uri="sip:elsewhere@10.0.0.9")]).status == 400
    v = check([creds(nonce, realm="other")])
    assert v.status == 401 and "'other'" in v.reason
    assert check([creds(nonce, algorithm="SHA-256")]).status == 401
    assert check([creds(nonce, qop="auth-int")]).status == 400
    assert check(['Digest username="sbc", realm="assist"']).status == 400


def test_uri_may_omit_user_and_parameters_but_not_change_target():
    assert same_target("sip:10.0.0.9:5060", "sip:srs@10.0.0.9:5060;transport=udp")
    assert same_target("sip:srs@10.0.0.9:5060", "sip:srs@10.0.0.9:5060")
    assert not same_target("sip:10.0.0.9:5061", "sip:srs@10.0.0.9:5060")
    assert not same_target("sips:10.0.0.9:5060", "sip:srs@10.0.0.9:5060")
    assert not same_target("/dir/index.html", "sip:srs@10.0.0.9")
    nonce = make_nonce(SECRET, T0, "10.0.0.5")
    assert check([creds(nonce, uri="sip:10.0.0.9:5060")]).ok


def test_picks_the_credentials_for_our_realm():
    nonce = make_nonce(SECRET, T0, "10.0.0.5")
    assert check([creds(nonce, realm="proxy"), creds(nonce)]).ok


def test_challenge_format():
    assert challenge("r", "n", stale=True) == (
        'Digest realm="r", nonce="n", algorithm=MD5, qop="auth", stale=true'
    )

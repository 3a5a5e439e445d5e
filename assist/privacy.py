"""Masking customer data (phone, ID and card numbers) in what we store and show.

Seed 002 asks that customer data be protected.  People say and type numbers
with all sorts of separators, and a Chinese recogniser writes spoken digits as
characters, so a number is found by its digits, whatever joins them.

Rules:
- A digit is 0-9 or ０-９, or a spoken digit as a recogniser writes it:
  零 〇 一 二 三 四 五 六 七 八 九, 幺 (one, as read in phone numbers), 两 (two).
- A number is digits with at most one separator between any two: up to three
  spaces, or one of - － – — . ． / ／ , ， · with up to three spaces around it.
  It may end in X or x when 17 digits come before (a Chinese ID number).
- A number of six digits or more keeps its last four; each other digit becomes
  "*".  Separators and all other text stay, so the length is unchanged and a
  word keeps its place in a line.
- Left alone: dates (2026-01-15, 2026/1/5, 15.01.2026) cut out of a number
  first; amounts (1,299.00 or 12345.50: commas every three digits, or one point
  and one or two decimals); times (09:30, the colon joins nothing); numbers
  with units (一千二百, 三点十五分); prose with a few digit characters
  (一心一意, 一五一十, 三五个人).
- Word tokens are masked as one text of the tokens joined by spaces, so a
  number split over tokens is found whatever the transcript line looks like.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

DIGITS = "0-9０-９零〇一二三四五六七八九幺两"
_SPACE = "[ \t\u3000\u00a0]"
_PUNCT = "[-－‐‑–—.．/／,，·]"
_SEP = rf"(?:{_SPACE}{{0,3}}{_PUNCT}{_SPACE}{{0,3}}|{_SPACE}{{1,3}})"
_RUN = re.compile(rf"[{DIGITS}]+(?:{_SEP}[{DIGITS}]+)*(?:{_SEP}?[xX](?![A-Za-z]))?")
_GROUP = re.compile(rf"[{DIGITS}]+|[xX]")
_AMOUNT = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+\.\d{1,2}")
_DATE_SEPS = ("-", "/", ".")


def _is_date(s: str, groups: list[tuple[int, int]], i: int) -> bool:
    """Whether groups i, i+1, i+2 of `s` read as y-m-d or d-m-y, joined by one of - / ."""
    if i + 3 > len(groups):
        return False
    parts = [s[a:b] for a, b in groups[i:i + 3]]
    seps = {s[groups[i][1]:groups[i + 1][0]], s[groups[i + 1][1]:groups[i + 2][0]]}
    if len(seps) != 1 or seps.pop() not in _DATE_SEPS or not all(p.isascii() for p in parts):
        return False
    if len(parts[2]) == 4:  # day first
        parts = parts[::-1]
    y, m, d = parts
    return (len(y) == 4 and y[:2] in ("19", "20") and len(m) <= 2 and len(d) <= 2
            and 1 <= int(m) <= 12 and 1 <= int(d) <= 31)


def _segments(s: str) -> list[list[tuple[int, int]]]:
    """The digit groups of a run, split where a date is cut out."""
    groups = [(m.start(), m.end()) for m in _GROUP.finditer(s)]
    if s[groups[-1][0]] in "xX":
        digits = sum(b - a for a, b in groups[:-1])
        if digits != 17:
            groups.pop()
    out: list[list[tuple[int, int]]] = [[]]
    i = 0
    while i < len(groups):
        if _is_date(s, groups, i):
            out.append([])
            i += 3
            continue
        out[-1].append(groups[i])
        i += 1
    return [seg for seg in out if seg]


def _hide(s: str, keep: int, min_digits: int) -> str:
    chars = list(s)
    for seg in _segments(s):
        if _AMOUNT.fullmatch(s[seg[0][0]:seg[-1][1]]):
            continue
        places = [i for a, b in seg for i in range(a, b)]
        if len(places) < min_digits:
            continue
        for i in places[:len(places) - keep]:
            chars[i] = "*"
    return "".join(chars)


def mask(text: str, *, keep: int = 4, min_digits: int = 6) -> str:
    """`text` with every number of `min_digits` or more shown as "*" but its last `keep`."""
    return _RUN.sub(lambda m: _hide(m.group(0), keep, min_digits), text)


def mask_words(words: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Word tokens masked as the text they make together (see the rules above)."""
    out = [dict(w) for w in words]
    tokens = [str(w.get("w", "")) for w in out]
    joined = " ".join(tokens)
    masked = mask(joined)
    if masked == joined:
        return out
    at = 0
    for w, token in zip(out, tokens, strict=True):
        if "w" in w:
            w["w"] = masked[at:at + len(token)]
        at += len(token) + 1
    return out

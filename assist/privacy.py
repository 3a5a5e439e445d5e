"""Masking customer data (phone, ID and card numbers) in what we store and show.

Seed 002 asks that customer data be protected; a recogniser writes numbers as
Arabic digits or as Chinese numerals, so both are masked.  Any run of six or
more digits (spaces and dashes inside allowed) keeps only its last four.
"""

from __future__ import annotations

import re

_DIGIT = r"[0-9０-９零〇一二三四五六七八九幺两xX]"
_RUN = re.compile(rf"{_DIGIT}(?:[\s\-]?{_DIGIT}){{5,}}")


def _mask(m: re.Match[str]) -> str:
    s = m.group(0)
    keep = 4
    digits = [i for i, ch in enumerate(s) if not ch.isspace() and ch != "-"]
    hide = set(digits[:-keep])
    return "".join("*" if i in hide else ch for i, ch in enumerate(s))


def mask(text: str) -> str:
    return _RUN.sub(_mask, text)

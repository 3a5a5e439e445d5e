"""Masking customer data (phone, ID and card numbers) in what we store and show.

Seed 002 asks that customer data be protected; a recogniser writes numbers as
Arabic digits or as Chinese numerals, so both are masked.  Any run of six or
more digits (spaces and dashes inside allowed) keeps only its last four.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

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


def mask_words(text: str, words: Sequence[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
    """Mask word tokens the way their joined text is masked.

    A number is often split over several tokens (一三八 / 一二三四 / …), so each
    token is found in the text and takes the masked text at the same place;
    masking keeps lengths, so the places line up.
    """
    masked = mask(text)
    if masked == text:
        return words
    out, cursor = [], 0
    for w in words:
        token = str(w.get("w", ""))
        at = text.find(token, cursor) if token else -1
        if at < 0:
            out.append({**w, "w": mask(token)})
            continue
        out.append({**w, "w": masked[at:at + len(token)]})
        cursor = at + len(token)
    return out

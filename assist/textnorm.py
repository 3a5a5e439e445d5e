"""Text as the matchers see it: one form for recogniser output and typed text.

The recogniser writes Chinese with spaces between words ("你 弄 错 了") and
English in lower case without punctuation; playbook patterns are written for
plain text.  Chinese loses all whitespace, English is lower-cased with single
spaces, so one pattern covers both typed and recognised text.
"""

from __future__ import annotations

import re

_SPACES = re.compile(r"\s+")


def is_chinese(language: str) -> bool:
    return language.lower().startswith("zh")


def normalize(text: str, language: str) -> str:
    if is_chinese(language):
        return _SPACES.sub("", text)
    return _SPACES.sub(" ", text).strip().lower()


_LONG_NUMBER = re.compile(r"\d(?:[\s-]?\d){4,}")


def mask_numbers(text: str) -> str:
    """Phone, ID and card numbers (five digits or more) shown as asterisks."""
    return _LONG_NUMBER.sub(lambda m: "*" * len(m.group(0)), text)

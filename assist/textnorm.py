"""Text as the matchers see it: one form for recogniser output and typed text.

The recogniser writes Chinese with spaces between words ("你 弄 错 了") and
English in lower case without punctuation; playbook patterns are written for
plain text.  Chinese loses all whitespace, English is lower-cased with single
spaces, so one pattern covers both typed and recognised text.
"""

from __future__ import annotations

import re

from assist.privacy import mask

_SPACES = re.compile(r"\s+")


def is_chinese(language: str) -> bool:
    return language.lower().startswith("zh")


def normalize(text: str, language: str) -> str:
    if is_chinese(language):
        return _SPACES.sub("", text)
    return _SPACES.sub(" ", text).strip().lower()


def mask_numbers(text: str) -> str:
    """Numbers of five digits or more shown as asterisks, every digit of them.

    For what a matcher quotes back (a taboo phrase, a caller's words in a
    suggestion's reason): the numbers are found as `assist.privacy` finds them,
    in any separators and in spoken digits.
    """
    return mask(text, keep=0, min_digits=5)

"""Recogniser text: joining Vosk's tokens and counting speech units.

Vosk puts a space between every token, Chinese included; Chinese text is
written without spaces, so tokens are glued unless both sides are Latin
letters or digits (a product name inside a Chinese sentence keeps its space).
"""

from __future__ import annotations

import re

# Tokens the models emit for noise or out-of-vocabulary audio: "[unk]", "<UNK>", "[1]".
_FILLER = re.compile(r"^[\[<].*[\]>]$|^-+$")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_WORD = re.compile(r"[0-9A-Za-z\u00c0-\u024f]+(?:['’][0-9A-Za-z]+)*")
_ASCII_ALNUM = re.compile(r"[0-9A-Za-z]")

NO_SPACE_LANGUAGES = frozenset({"zh", "ja"})


def base_language(language: str) -> str:
    """'zh-CN' -> 'zh', 'en_US' -> 'en'."""
    return re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0]


def is_filler(token: str) -> bool:
    return not token or bool(_FILLER.match(token))


def join_tokens(tokens: list[str], language: str) -> str:
    words = [t for t in tokens if not is_filler(t)]
    if base_language(language) not in NO_SPACE_LANGUAGES:
        return " ".join(words)
    out = ""
    for w in words:
        if out and _ASCII_ALNUM.match(out[-1]) and _ASCII_ALNUM.match(w[0]):
            out += " "
        out += w
    return out


def join_text(text: str, language: str) -> str:
    """Vosk's space-separated text as a person would write it."""
    return join_tokens(text.split(), language)


def count_units(text: str, language: str) -> int:
    """Speech-rate units in `text`: Han characters for Chinese (one per syllable),
    Hangul syllables for Korean, words otherwise.  Latin words or numbers inside
    Chinese or Korean text count one each.
    """
    lang = base_language(language)
    if lang == "zh":
        return len(_HAN.findall(text)) + len(_WORD.findall(text))
    if lang == "ko":
        return len(_HANGUL.findall(text)) + len(_WORD.findall(text))
    return len(_WORD.findall(text))

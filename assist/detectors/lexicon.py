"""Lexical anger cues in what the customer says, for zh-CN and en-US.

Seed 004 names the callers who are hardest to serve: the angry, the insulting,
and those with demands that are hard to meet (high compensation, media
exposure, refunds, emotional damages), plus callers who demand a supervisor.
Each cue has a kind and a weight in (0, 1]: how strongly the words alone point
to an upset caller.  The anger detector combines them with the acoustic score;
`lexical_score` gives one number (noisy-OR over the strongest cue per kind).

A cue preceded closely by a negation ("我不是要投诉", "I'm not going to
complain") is dropped for kinds where negation flips the meaning; for refund
and compensation it does not ("不退款我就…" is still a demand).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assist.textnorm import is_chinese, normalize


@dataclass(frozen=True, slots=True)
class Cue:
    kind: str  # complaint | exposure | refund | compensation | manager | insult | legal
    term: str  # the words matched (normalised text)
    weight: float
    start: int  # offset in the normalised text


_ZH: tuple[tuple[str, float, str], ...] = (
    ("complaint", 0.5, r"投诉|举报|告你们"),
    ("exposure", 0.8, r"曝光|媒体|记者|报社|电视台|上电视|微博|抖音|发到网上|网上发"),
    ("refund", 0.4, r"退款|退费|退钱|把钱退"),
    ("compensation", 0.6, r"赔偿|赔钱|赔我|损失费|精神损失|精神赔偿"),
    ("manager", 0.5, r"领导|经理|主管|负责人|上级|你们老板"),
    ("legal", 0.7, r"起诉|律师|法院|打官司|12315|消协|消费者协会|工信部"),
    ("insult", 0.9, r"骗子|垃圾(?!短信|邮件|电话|广告)|混蛋|王八蛋|傻[逼子]|他妈的?|废物|滚蛋|去死|"
     r"你(们)?有病|脑子进水"),
)
_EN: tuple[tuple[str, float, str], ...] = (
    ("complaint", 0.5, r"\b(complain(t|ts|ing)?|formal complaint|report you)\b"),
    ("exposure", 0.8, r"\b(media|press|newspaper|journalist|reporter|tv station|twitter|"
     r"social media|post (this|it) online|go public)\b"),
    ("refund", 0.4, r"\b(refund|money back|reimburse(ment)?)\b"),
    ("compensation", 0.6, r"\b(compensat(e|ion)|damages|pay for (this|my))\b"),
    ("manager", 0.5, r"\b(manager|supervisor|your boss|someone in charge|escalate)\b"),
    ("legal", 0.7, r"\b(sue|lawyer|attorney|court|legal action|ombudsman|regulator)\b"),
    ("insult", 0.9, r"\b(idiot|stupid|moron|useless|incompetent|scam(mers?)?|crooks?|"
     r"liars?|shut up|f\w*ck\w*)\b"),
)
_NEGATABLE = frozenset({"complaint", "exposure", "manager", "legal"})
_ZH_NEG = re.compile(r"(不想|不会|不是要|不打算|没有要|不用|没想)[^,。!?]{0,3}$")
_EN_NEG = re.compile(r"\b(not|n't|never|no need to|don't want to)\b(\s+\S+){0,3}\s*$")
_TABLES = {
    True: tuple((k, w, re.compile(p)) for k, w, p in _ZH),
    False: tuple((k, w, re.compile(p, re.IGNORECASE)) for k, w, p in _EN),
}


def lexical_cues(text: str, language: str) -> list[Cue]:
    """Every cue in `text`, in order of appearance."""
    zh = is_chinese(language)
    norm = normalize(text, language)
    neg = _ZH_NEG if zh else _EN_NEG
    cues = []
    for kind, weight, pattern in _TABLES[zh]:
        for m in pattern.finditer(norm):
            before = norm[max(0, m.start() - 30) : m.start()]
            if kind in _NEGATABLE and neg.search(before):
                continue
            cues.append(Cue(kind, m.group(0), weight, m.start()))
    cues.sort(key=lambda c: c.start)
    return cues


def lexical_score(cues: list[Cue]) -> float:
    """0..1: noisy-OR of the strongest cue of each kind (repeats of a kind add nothing)."""
    best: dict[str, float] = {}
    for c in cues:
        best[c.kind] = max(best.get(c.kind, 0.0), c.weight)
    calm = 1.0
    for w in best.values():
        calm *= 1.0 - w
    return round(1.0 - calm, 4)

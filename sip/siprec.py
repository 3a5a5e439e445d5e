"""SIPREC offers (RFC 7865/7866) as pure functions: raw INVITE in, a tap plan out.

Rules, in order:
1. The SDP gives the audio m= lines, their `a=label` and direction.
2. Metadata, when present, maps each label to the participant that *sends* it
   (`participantstreamassoc/send`, or the legacy `<send>` inside `<participant>`),
   and each participant to a role by the trunk's AoR patterns or the caller flag.
3. Without metadata, the trunk's `labels` rules, then its `order` rule, decide.
4. Metadata that is present but does not parse (often a message cut at the
   wheel's 4000-byte limit) is refused: a tap with guessed roles is worse than none.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from sip.message import (
    MAX_PACKET,
    Media,
    Refusal,
    SipMessage,
    check_complete,
    parse_message,
    parse_sdp,
    split_multipart,
)
from sip.trunks import Trunk

__all__ = [
    "MAX_PACKET",
    "Refusal",
    "SipMessage",
    "check_complete",
    "parse_message",
    "parse_sdp",
    "split_multipart",
    "parse_metadata",
    "plan",
    "mask",
    "agent_id",
    "TapPlan",
]


@dataclass(frozen=True, slots=True)
class Participant:
    id: str
    aor: str | None
    name: str | None
    sends: tuple[str, ...]  # stream ids
    calling: bool | None  # vendor flag, when given


@dataclass(frozen=True, slots=True)
class Metadata:
    session: str | None
    participants: tuple[Participant, ...]
    labels: tuple[tuple[str, str], ...]  # (stream id, label)

    def sender_of(self, label: str) -> Participant | None:
        ids = {sid for sid, lab in self.labels if lab == label}
        return next((p for p in self.participants if ids & set(p.sends)), None)


@dataclass(frozen=True, slots=True)
class TapStream:
    index: int
    role: str
    label: str | None
    aor: str | None


@dataclass(frozen=True, slots=True)
class TapPlan:
    streams: tuple[TapStream, ...]  # at most one per role
    agent: str | None
    basis: str  # metadata | labels | order
    session: str | None


@dataclass(slots=True)
class _PartDraft:
    """One <participant> while later <participantstreamassoc> elements may add streams."""

    aor: str | None
    name: str | None
    sends: list[str]
    calling: bool | None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def parse_metadata(xml: bytes | str) -> Metadata:
    """Namespace-agnostic: RFC 7865 (`:1`), the pre-RFC schema and prefixed elements."""
    try:
        # defusedxml: a caller's XML may not declare entities or DTDs (entity bombs).
        root = SafeET.fromstring(xml)
    except ET.ParseError as exc:
        raise Refusal(488, f"recording metadata does not parse ({exc})") from None
    except DefusedXmlException as exc:
        raise Refusal(488, f"recording metadata refused ({type(exc).__name__})") from None
    if _local(root.tag) != "recording":
        raise Refusal(488, f"recording metadata root is <{_local(root.tag)}>, not <recording>")

    def attr(el: ET.Element, *names: str) -> str | None:
        return next((el.get(n) for n in names if el.get(n)), None)

    def child(el: ET.Element, name: str) -> ET.Element | None:
        return next((c for c in el if _local(c.tag) == name), None)

    session = None
    parts: dict[str, _PartDraft] = {}
    labels: list[tuple[str, str]] = []
    for el in root:
        kind = _local(el.tag)
        if kind == "session" and session is None:
            session = attr(el, "session_id", "id")
        elif kind == "participant":
            pid = attr(el, "participant_id", "id") or f"p{len(parts)}"
            name_id = child(el, "nameid")
            name_el = child(name_id, "name") if name_id is not None else None
            calling = next((c.text for c in el.iter() if _local(c.tag) == "callingparty"), None)
            parts[pid] = _PartDraft(
                aor=name_id.get("aor") if name_id is not None else None,
                name=(name_el.text or "").strip() or None if name_el is not None else None,
                sends=[(c.text or "").strip() for c in el if _local(c.tag) == "send"],
                calling=None if calling is None else calling.strip().lower() == "true",
            )
        elif kind == "stream":
            label = child(el, "label")
            sid = attr(el, "stream_id", "id")
            if sid and label is not None and label.text:
                labels.append((sid, label.text.strip()))
        elif kind == "participantstreamassoc":
            assoc = attr(el, "participant_id", "id")
            if assoc is not None and assoc in parts:
                parts[assoc].sends += [
                    (c.text or "").strip() for c in el if _local(c.tag) == "send"
                ]
    participants = tuple(
        Participant(pid, _norm_aor(p.aor), p.name, tuple(p.sends), p.calling)
        for pid, p in parts.items()
    )
    return Metadata(session, participants, tuple(labels))


def _norm_aor(aor: str | None) -> str | None:
    if not aor:
        return None
    aor = aor.strip()
    return aor if re.match(r"^[a-z]+:", aor, re.IGNORECASE) else "sip:" + aor  # Sonus drops it


def agent_id(aor: str | None, trunk: Trunk) -> str | None:
    if aor is None:
        return None
    m = trunk.agent_aor.search(aor) if trunk.agent_aor else None
    if m:
        if "agent" in m.re.groupindex and m.group("agent"):
            return m.group("agent")
        if m.re.groups and m.group(1):
            return m.group(1)
    user = re.match(r"^[a-z]+:([^@;]+)", aor, re.IGNORECASE)
    return user.group(1) if user else aor


def _role(p: Participant, trunk: Trunk) -> str | None:
    if p.aor and trunk.agent_aor and trunk.agent_aor.search(p.aor):
        return "agent"
    if p.aor and trunk.customer_aor and trunk.customer_aor.search(p.aor):
        return "customer"
    if p.calling is not None and trunk.caller_role:
        other = "agent" if trunk.caller_role == "customer" else "customer"
        return trunk.caller_role if p.calling else other
    return None


def plan(msg: SipMessage, trunk: Trunk, packet_len: int = 0) -> TapPlan:
    """Decide which m= line carries which party, or raise `Refusal`."""
    check_complete(msg, packet_len)
    ctype = msg.header("content-type") or ""
    sdp: bytes | None = None
    meta_xml: bytes | None = None
    if ctype.lower().startswith("multipart/"):
        for headers, content in split_multipart(ctype, msg.body):
            ptype = headers.get("content-type", "").split(";")[0].strip().lower()
            if ptype == "application/sdp" and sdp is None:
                sdp = content
            elif ptype.startswith("application/rs-metadata") and "request" not in ptype:
                meta_xml = content
    elif ctype.lower().startswith("application/sdp"):
        sdp = msg.body
    if not sdp:
        raise Refusal(488, "no SDP offer in the INVITE")
    audio = [m for m in parse_sdp(sdp) if m.kind == "audio" and m.port != 0]
    if len(audio) < 2:
        raise Refusal(488, f"{len(audio)} audio stream(s): need one per party to tell them apart")

    if meta_xml is not None and meta_xml.strip():
        # Metadata decides alone: the labels/order fallbacks are for INVITEs without it.
        meta = parse_metadata(meta_xml)
        streams = _by_metadata(audio, meta, trunk)
        if streams:
            return _finish(streams, "metadata", meta.session, trunk)
        raise Refusal(488, _unmapped(audio, meta, trunk))
    by_label = [TapStream(m.index, r, m.label, None)
                for m in audio if m.label and (r := trunk.label_role(m.label))]  # fmt: skip
    if {s.role for s in by_label} == {"customer", "agent"}:
        return _finish(by_label, "labels", None, trunk)
    if len(trunk.order) == 2:
        pairs = zip(audio, trunk.order, strict=False)
        by_order = [TapStream(m.index, r, m.label, None) for m, r in pairs]
        return _finish(by_order, "order", None, trunk)
    raise Refusal(488, "no recording metadata and no labels/order rule for this trunk")


def _by_metadata(audio: list[Media], meta: Metadata, trunk: Trunk) -> list[TapStream]:
    senders = {m.index: meta.sender_of(m.label) for m in audio if m.label}
    roles = {p.id: _role(p, trunk) for p in meta.participants}
    known = {r for r in roles.values() if r}
    if len(known) == 1 and len(meta.participants) == 2:  # the other one is the other party
        other = "customer" if known == {"agent"} else "agent"
        roles = {pid: r or other for pid, r in roles.items()}
    out = []
    for m in audio:
        p = senders.get(m.index)
        role = roles.get(p.id) if p else None
        if p and role:
            out.append(TapStream(m.index, role, m.label, p.aor))
    return out if {s.role for s in out} == {"customer", "agent"} else []


def _unmapped(audio: list[Media], meta: Metadata, trunk: Trunk) -> str:
    """Why metadata gave no customer and agent stream: the first cause that applies."""
    unlabelled = [m.index for m in audio if not m.label]
    if unlabelled:
        return f"metadata present but m={unlabelled[0]} has no a=label to bind it to a sender"
    unbound = [m.label for m in audio if m.label and meta.sender_of(m.label) is None]
    if len(unbound) == len(audio):
        return (
            f"metadata binds no stream to a participant (labels {', '.join(unbound)}: "
            "no participant sends them)"
        )
    if unbound:
        return f"metadata binds no participant to stream label {unbound[0]}"
    roles = {p.id: _role(p, trunk) for p in meta.participants}
    if not any(roles.values()):
        aors = ", ".join(str(mask(p.aor)) for p in meta.participants) or "none"
        return f"no participant matches this trunk's role rules (AoRs: {aors})"
    return "metadata gives no stream to one of the parties (both streams map to one role)"


def _finish(streams: list[TapStream], basis: str, session: str | None, trunk: Trunk) -> TapPlan:
    first: dict[str, TapStream] = {}
    for s in streams:
        first.setdefault(s.role, s)
    agent = first["agent"].aor
    return TapPlan(tuple(first.values()), agent_id(agent, trunk) if agent else None, basis,
                   session)  # fmt: skip


def mask(text: str | None) -> str | None:
    """Hide all but the last 4 digits of any run of 5+ digits (phone and ID numbers)."""
    if text is None:
        return None
    return re.sub(r"\d{5,}", lambda m: "*" * (len(m.group()) - 4) + m.group()[-4:], text)

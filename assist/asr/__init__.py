"""Streaming speech recognition with Vosk: models, gating, per-party workers."""

from assist.asr.config import AsrParams
from assist.asr.gate import SpeechGate, TimeMap
from assist.asr.model import AsrModel, ModelRegistry, load_model
from assist.asr.text import base_language, count_units, join_text
from assist.asr.worker import PartyRecognizer

__all__ = [
    "AsrModel",
    "AsrParams",
    "ModelRegistry",
    "PartyRecognizer",
    "SpeechGate",
    "TimeMap",
    "base_language",
    "count_units",
    "join_text",
    "load_model",
]

"""Data-loss prevention: personal and secret data in upstream answers, masked before the client sees it.

Not janus.gateway.redaction, which removes the credentials Janus itself injected (an echo of our own
secret). This masks what the *upstream's data* holds and the client should not: e-mail addresses,
payment card numbers, JWTs, cloud access keys and IBANs. It is on when REDACTION_ENABLED is set, or
per connection (`redaction`: true/false overrides the setting, null follows it).

Each detector is a regex compiled once at import plus, where a regex alone would mask innocent data,
a check of the candidate:

- email: local@domain.tld (ASCII; the TLD at least two letters).
- card: 13-19 digits, single spaces or dashes between them allowed, starting 2-6 (every card network's
  range) and passing the Luhn check, so an order id or a phone number is left alone (a random digit
  run passes Luhn one time in ten, the prefix rule halves that; a Luhn-valid order id *is* masked).
  JSON integers of 13-19 digits are checked too, and become the mask text (a string) when they match.
- jwt: three base64url segments whose first decodes to a JSON object with an "alg" member.
- aws_key: access key ids, AKIA/ASIA + 16 upper-case letters or digits (not the secret key: 40
  characters of base64 with no marker of their own, which no pattern tells from any other digest).
- gcp_key: Google API keys, AIza + 35 base64url characters.
- azure_key: a storage account key only where it is labelled, `AccountKey=<88 base64 characters>` in a
  connection string. A bare 88-character base64 text is any 64-byte digest or blob: not matched.
- iban: two letters, two check digits and 11-30 letters or digits (compact, or in groups of four
  separated by single spaces), verified by the ISO 13616 mod-97 check. Upper case only.

The per-call cost on a clean answer is one probe `search` per detector over the text (a literal or a single
character class first, so the engine skips in C); only a detector whose probe hits walks the value
with its exact pattern (bench/dlp_cost.py).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MASK = "[redacted:{}]"
# The order classes are reported in (audit rows, markers): fixed, so equal calls give equal rows.
CLASSES = ("email", "card", "jwt", "aws_key", "gcp_key", "azure_key", "iban")


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card(candidate: str) -> bool:
    digits = candidate.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and _luhn(digits)


def _jwt(candidate: str) -> bool:
    header = candidate.split(".", 1)[0]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (binascii.Error, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return False
    return isinstance(decoded, dict) and "alg" in decoded


def _iban(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    # A=10 … Z=35, digits as themselves: int(ch, 36) is exactly that mapping.
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _always(candidate: str) -> bool:
    return True


@dataclass(frozen=True)
class _Detector:
    name: str
    # A loose pattern that starts with a literal or a single character class: the regex engine then skips
    # to candidate positions in C (~1 µs per 2 KB), where the exact pattern (a lookbehind or a quantified
    # class first) tries every position (100+ µs). Only a text the probe hits meets the exact pattern.
    probe: re.Pattern[str]
    pattern: re.Pattern[str]
    valid: Callable[[str], bool]
    group: int = 0  # the part of the match that is masked (azure_key: the key, not its label)


_WORD = r"A-Za-z0-9_-"
DETECTORS: tuple[_Detector, ...] = (
    _Detector(
        "email",
        re.compile("@"),
        re.compile(
            r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}"
            r"\.[A-Za-z]{2,24}\b"
        ),
        _always,
    ),
    _Detector(
        "card",
        re.compile(r"[0-9][0-9 -]{11,}[0-9]"),
        re.compile(r"(?<![0-9-])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])"),
        _card,
    ),
    _Detector(
        "jwt",
        re.compile("eyJ"),
        re.compile(rf"(?<![{_WORD}])eyJ[{_WORD}]{{4,}}\.[{_WORD}]{{2,}}\.[{_WORD}]*"),
        _jwt,
    ),
    _Detector(
        "aws_key",
        re.compile("A(?:KIA|SIA)"),
        re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])"),
        _always,
    ),
    _Detector(
        "gcp_key",
        re.compile("AIza"),
        re.compile(rf"(?<![{_WORD}])AIza[{_WORD}]{{35}}(?![{_WORD}])"),
        _always,
    ),
    _Detector(
        "azure_key",
        re.compile("AccountKey="),
        re.compile(r"AccountKey=([A-Za-z0-9+/]{86}==)"),
        _always,
        group=1,
    ),
    _Detector(
        "iban",
        re.compile(r"[A-Z][A-Z][0-9][0-9][A-Z0-9 ]"),
        re.compile(
            r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)"
            r"(?![A-Za-z0-9])"
        ),
        _iban,
    ),
)


def present(text: str) -> tuple[_Detector, ...]:
    """The detectors whose probe finds a candidate in `text`: the cheap pre-check."""
    return tuple(d for d in DETECTORS if d.probe.search(text) is not None)


def _mask_text(text: str, detectors: tuple[_Detector, ...], counts: Counter[str]) -> str:
    for detector in detectors:
        if detector.probe.search(text) is None:
            continue

        def replace(match: re.Match[str], detector: _Detector = detector) -> str:
            candidate = match.group(detector.group)
            if not detector.valid(candidate):
                return match.group(0)
            counts[detector.name] += 1
            whole = match.group(0)
            if detector.group == 0:
                return MASK.format(detector.name)
            start, end = match.span(detector.group)
            offset = match.start(0)
            return whole[: start - offset] + MASK.format(detector.name) + whole[end - offset :]

        text = detector.pattern.sub(replace, text)
    return text


_CARD_LOW, _CARD_HIGH = 10**12, 10**19  # 13 to 19 digits


def _mask_value(value: Any, detectors: tuple[_Detector, ...], counts: Counter[str], cards: bool) -> Any:
    if isinstance(value, str):
        return _mask_text(value, detectors, counts)
    if isinstance(value, dict):
        return {
            _mask_text(k, detectors, counts) if isinstance(k, str) else k: _mask_value(v, detectors, counts, cards)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_mask_value(v, detectors, counts, cards) for v in value]
    if cards and type(value) is int and _CARD_LOW <= abs(value) < _CARD_HIGH and _card(str(abs(value))):
        counts["card"] += 1
        return MASK.format("card")
    return value


class Findings(Counter[str]):
    """How many of each class were masked: what the audit row and the marker carry, never a value."""

    def summary(self) -> str | None:
        """e.g. "email:2,card:1" (CLASSES order), None when nothing was masked."""
        parts = [f"{name}:{self[name]}" for name in CLASSES if self[name]]
        return ",".join(parts) or None

    def as_dict(self) -> dict[str, int]:
        return {name: self[name] for name in CLASSES if self[name]}


def enabled(default: bool, override: bool | None) -> bool:
    """Whether a connection's answers are masked: its own `redaction` (true/false), else REDACTION_ENABLED
    (`default`). The one rule: the executor and the endpoint editor's test-in-place both ask it."""
    return default if override is None else override


def mask_text(text: str, findings: Findings) -> str:
    """`text` with every detected value masked; `findings` counts them."""
    detectors = present(text)
    return _mask_text(text, detectors, findings) if detectors else text


def mask_value(value: Any, text: str, findings: Findings) -> Any:
    """A parsed JSON value with every string (keys too) masked. `text` is the value as serialised: the
    pre-check runs over it once, so a clean value is never walked."""
    detectors = present(text)
    if not detectors:
        return value
    cards = any(d.name == "card" for d in detectors)
    return _mask_value(value, detectors, findings, cards)

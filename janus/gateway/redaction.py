"""Credentials reflected by an upstream: found in any spelling, replaced before anything is passed on.

An upstream may echo what Janus injected (a debug endpoint, an error page, a
"whoami"), and it may do so in a 2xx body, a reason phrase, a Location header,
another charset, JSON-escaped, percent-encoded, base64-encoded or in another
letter case. A Redactor is built once per set of injected values (cached by
`redactor_for`) and holds one compiled pattern matching every such spelling,
so the per-call cost is one regex scan of the text that leaves Janus.

What counts as a credential (see `_credentials`): each injected header value,
the part after its scheme ("Bearer <tok>" → "<tok>"), for Basic the decoded
"user:password" pair and both its halves, for OAuth also the client secret.
Values shorter than MIN_SECRET_LENGTH are left alone: redacting "acme" or a
three-letter password would garble every body while protecting nothing.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Iterable
from typing import Any

MIN_SECRET_LENGTH = 8
REDACTED = "[redacted]"
# Bodies are read this far past MAX_RESPONSE_BYTES so that a credential straddling
# the cap is still whole when redaction runs; the cut comes after (see content.py).
# Covers any credential whose echoed spelling is shorter than this (a 10 KB secret
# \u-escaped in UTF-16 is 120 KB; real tokens are far shorter).
READ_MARGIN = 65_536
# Codecs whose decoded text shows an ASCII credential as itself: nothing more to check.
_ASCII_COMPATIBLE = frozenset(
    {"utf-8", "utf8", "ascii", "us-ascii", "latin-1", "latin1", "iso-8859-1", "iso8859-1", "cp1252", "windows-1252"}
)


def _credentials(values: Iterable[str]) -> list[str]:
    """Each value, its credential without the scheme, a Basic pair decoded and split; long enough ones."""
    found: set[str] = set()
    for value in values:
        value = value.strip()
        found.add(value)
        scheme, _, credential = value.partition(" ")
        credential = credential.strip()
        if not credential:
            continue
        found.add(credential)
        if scheme.lower() == "basic":
            try:
                pair = base64.b64decode(credential, validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                continue
            user, _, password = pair.partition(":")
            found.update((pair, user, password))
    return sorted((v for v in found if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def _char(c: str) -> str:
    """Every way one character of a credential may be spelled in text passed on."""
    code = ord(c)
    ways = [re.escape(c)]
    if code < 0x10000:
        ways.append(rf"\\u{code:04x}")  # JSON / JavaScript escape (case: the pattern ignores it)
    if code < 0x100:
        ways.append(f"%{code:02x}")  # percent-encoding
    ways += [f"&#0*{code};", f"&#x0*{code:x};"]  # HTML / XML character references
    if c == "/":
        ways.append(r"\\/")  # JSON's optional escape
    elif c in '"\\':
        ways.append(re.escape("\\" + c))
    elif c == " ":
        ways.append(r"\+")  # form encoding
    elif c == "+":
        ways.append("%2b")
    return ways[0] if len(ways) == 1 else "(?:" + "|".join(ways) + ")"


def _spellings(secret: str) -> list[str]:
    """Regex alternatives for one credential."""
    # Characters may also be interleaved with NULs: UTF-16 bytes decoded under a
    # charset that lies (declared UTF-8) show "s\x00e\x00c\x00…".
    chars = "\x00?".join(_char(c) for c in secret)
    found = [chars]
    raw = secret.encode("utf-8")
    mojibake = raw.decode("latin-1")
    if mojibake != secret:  # non-ASCII credential in UTF-8, shown as latin-1
        found.append(re.escape(mojibake))
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        # base64 is case-sensitive; its '/' may be JSON-escaped.
        text = encode(raw).decode("ascii").rstrip("=")
        found.append("(?-i:" + re.escape(text).replace("/", r"(?:/|\\/)") + ")")
    return found


UNREDACTABLE = "[redacted: the upstream's text held a credential in a form that could not be cut out]"


def _chr(code: int) -> str:
    return chr(code) if code <= 0x10FFFF else ""


def _decode_escape(escape: str) -> str:
    """One escape matched by an _Unescaper pattern, any number of times nested, as its character."""
    if escape[0] == "%":
        return chr(int(escape[-2:], 16))
    if escape[0] == "&":
        body = escape.rstrip(";").lstrip("&#")
        return _chr(int(body[1:], 16)) if body[:1] in "xX" else _chr(int(body))
    tail = escape.lstrip("\\")  # JSON: "u0073", the escaped character itself, or "" for a backslash
    return _chr(int(tail[1:], 16)) if len(tail) == 5 else tail or "\\"


class _Unescaper:
    """Decodes, in one pass, only the escapes of characters that occur in the credentials.

    Benign escapes (%20, \\n, \\", &#38;) are scanned past without a match, so ordinary text
    pays for a memchr-speed scan per kind and no per-escape Python call. Repeated backslashes
    and %25 chains count as one escape (a value escaped twice is still found).
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        chars = {c for secret in secrets for c in secret} | {c.swapcase() for secret in secrets for c in secret}
        # A backslash, then any more ("\\\\*", not "\\+"): a literal first is scanned for fast.
        self.json = re.compile(
            r"\\\\*(?:u(?:%s)%s)"
            % (
                "|".join(sorted(f"{ord(c):04x}" for c in chars if ord(c) < 0x10000)),
                "".join(f"|{re.escape(c)}" for c in sorted(chars & set('/"\\'))),
            ),
            re.IGNORECASE,
        )
        latin = sorted(f"{ord(c):02x}" for c in chars if ord(c) < 0x100)
        self.percent = re.compile(r"%%(?:25)*(?:%s)" % "|".join(latin), re.IGNORECASE)
        self.char_ref = re.compile(
            r"&#(?:x0*(?:%s)|0*(?:%s));"
            % ("|".join(sorted(f"{ord(c):x}" for c in chars)), "|".join(sorted(str(ord(c)) for c in chars))),
            re.IGNORECASE,
        )

    def __call__(self, text: str) -> str:
        decode = lambda match: _decode_escape(match.group())  # noqa: E731
        if "\x00" in text:
            text = text.replace("\x00", "")  # UTF-16 read as a single-byte charset
        if "\\" in text:
            text = self.json.sub(decode, text)
        if "%" in text:
            text = self.percent.sub(decode, text)
        if "&#" in text:
            text = self.char_ref.sub(decode, text)
        return text


class Redactor:
    """Replaces every spelling of a set of credentials; built once per set (redactor_for).

    The common case (no credential in the text) costs a search for each credential's plain
    and base64 forms in the text with its escapes decoded; the pattern of every spelling runs
    only on a hit. A hit that survives the pattern (an escape the pattern does not know)
    makes the whole text UNREDACTABLE rather than let it through.
    """

    def __init__(self, values: Iterable[str]) -> None:
        self.secrets = tuple(_credentials(values))
        alternatives = [s for secret in self.secrets for s in _spellings(secret)]
        self._pattern = re.compile("|".join(alternatives), re.IGNORECASE) if alternatives else None
        self._unescape = _Unescaper(self.secrets) if self.secrets else str
        folded: set[str] = set()
        exact: set[str] = set()
        for secret in self.secrets:
            folded.update(
                (secret.lower(), secret.replace(" ", "+").lower(), secret.encode("utf-8").decode("latin-1").lower())
            )
            raw = secret.encode("utf-8")
            exact.update(
                encode(raw).decode("ascii").rstrip("=") for encode in (base64.b64encode, base64.urlsafe_b64encode)
            )
        self._folded = tuple(folded)  # searched in the lower-cased, unescaped text
        self._exact = tuple(exact)  # base64 is case-sensitive
        # Binary bodies are also searched in the wide encodings a non-ASCII credential could take.
        self._binary = tuple(
            {
                secret.encode(codec)
                for secret in self.secrets
                for codec in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
            }
        )

    def __bool__(self) -> bool:
        return self._pattern is not None

    def found_in(self, text: str) -> bool:
        """Whether text holds a credential in any spelling the pattern knows (and some it does not)."""
        if self._pattern is None or not text:
            return False
        plain = self._unescape(text)
        if any(needle in plain for needle in self._exact):
            return True
        folded = plain.lower()
        return any(needle in folded for needle in self._folded)

    def text(self, text: str) -> str:
        if not self.found_in(text):
            return text
        assert self._pattern is not None
        cleaned = self._pattern.sub(REDACTED, text)
        return UNREDACTABLE if self.found_in(cleaned) else cleaned

    def value(self, value: Any) -> Any:
        """A parsed JSON value with every string (object keys too) redacted."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value

    def found_in_bytes(self, body: bytes) -> bool:
        """Whether raw bytes (an image, an octet stream) hold a credential in any spelling or encoding."""
        if self._pattern is None or not body:
            return False
        # latin-1 maps every byte to one character: ASCII and UTF-8 spellings match as text,
        # and UTF-16/32 spellings of an ASCII credential once the NULs are dropped.
        if self.found_in(body.decode("latin-1")):
            return True
        return any(needle in body for needle in self._binary)

    def hidden_by_charset(self, text: str, charset: str | None) -> bool:
        """Whether text decoded under `charset` hides a credential a client could recover by
        re-encoding it (an ASCII body declared UTF-16 decodes to CJK characters)."""
        if self._pattern is None or not charset or charset.lower() in _ASCII_COMPATIBLE:
            return False
        try:
            raw = text.encode(charset, "replace")
        except (LookupError, UnicodeError):
            return False
        return self.found_in_bytes(raw)


NOTHING = Redactor(())


@functools.lru_cache(maxsize=512)
def redactor_for(values: tuple[str, ...]) -> Redactor:
    """The Redactor for these injected values; cached, so each credential is compiled once."""
    return Redactor(values) if values else NOTHING


@functools.lru_cache(maxsize=256)
def oauth_client_secret(secret: str) -> str | None:
    """The client_secret inside an oauth2_client_credentials secret (parsed once per value)."""
    try:
        parsed = json.loads(secret)
    except ValueError:
        return None
    value = parsed.get("client_secret") if isinstance(parsed, dict) else None
    return value if isinstance(value, str) else None

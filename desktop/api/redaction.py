"""Keep API keys out of text the user or a log file can see.

Three layers: ``Secret`` hides a value from ``repr``/``str``; ``redact`` scrubs known secrets,
anything shaped like an API key and any value a name marks as secret (headers, URL parameters,
JSON fields, credentials in URLs) from a string; ``RedactingFilter`` applies ``redact`` to every
log record passing through a handler, including exception text.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re
import threading
from collections.abc import Iterable
from typing import NoReturn

REDACTED = "[redacted]"
_MIN_SECRET_LENGTH = 4

# Shapes that look like credentials even when the exact value is unknown.
KEY_PATTERNS: tuple[re.Pattern[str], ...] = (
    # Prefixed keys: OpenAI sk-... (sk-proj-, sk-svcacct-), then Groq gsk_, xAI xai-, Hugging
    # Face hf_, Perplexity pplx-, NVIDIA nvapi- and Google AIza, whose bodies are long runs of
    # letters and digits (so a model name such as "xai-grok-2" stays). A digit may stand
    # before the prefix so that URL-encoded text ("Bearer%20sk-...") is covered too.
    re.compile(r"(?<![A-Za-z_\-])sk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?<![A-Za-z_\-])(?:gsk_|xai-|hf_|pplx-|nvapi-)[A-Za-z0-9]{20,}[A-Za-z0-9_\-]*"),
    re.compile(r"(?<![A-Za-z0-9_\-])AIza[A-Za-z0-9_\-]{30,}"),
    # Azure keys: 32 hex characters (classic) or 84 letters and digits (newer), alone, and
    # 64-hex secrets. A hex run right after "-", "_", "/", ":" or "." is an id, a path or a
    # labelled hash ("file-…", "blobs/….jsonl", "sha256:…"), not a key.
    re.compile(
        r"(?<![A-Za-z0-9_\-/\\:.])(?:[0-9a-fA-F]{64}|[0-9a-fA-F]{32})(?![A-Za-z0-9_\-])"
        r"(?!\.[A-Za-z0-9])"
    ),
    re.compile(r"(?<![A-Za-z0-9+/_\-])[A-Za-z0-9]{84}(?:==)?(?![A-Za-z0-9+/=_\-])"),
)

# A name that says "the next value is a secret": keep the name, hide the value. Covers
# headers and settings ("api-key: v", "Ocp-Apim-Subscription-Key: v", "access_token=v").
_NAMED_KEY = re.compile(
    r"(?i)((?<![A-Za-z0-9])(?:ocp-apim-subscription-key|x-api-key|api[-_]?key|subscription[-_]?key"
    r"|(?:access|refresh|auth|api|id|session)[-_]?token|client[-_]?secret|password|passwd)"
    r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',;}&]+)"
)
# JSON or Python fields named like a secret: "key": "v", "token": "v", "client_secret": "v".
_SECRET_FIELD = re.compile(
    r"(?i)([\"'](?:[a-z0-9]+[_\-])*(?:key|token|secret|password|passwd|authorization)[\"']"
    r"\s*:\s*[\"'])([^\"']+)"
)
# "Authorization: Bearer v", "Authorization: Basic v", "authorization=v".
_AUTHORIZATION = re.compile(
    r"(?i)(\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token)\s+)?)"
    r"([^\s\"',;}]+)"
)
# "Bearer v", also URL-encoded ("Bearer%20v", "Bearer+v"). A short word after "bearer" is
# prose ("the bearer of"), so the token must hold a digit or a symbol, or be long.
_BEARER = re.compile(
    r"(?i)(\bbearer(?:[ \t]+|%20|\+))(?=[A-Za-z0-9._~+/\-]*[0-9._~+/\-]|[A-Za-z]{20})"
    r"([A-Za-z0-9._~+/\-]+=*)"
)
# "Basic dXNlcjpwYXNz": hidden when it decodes to "user:password".
_BASIC = re.compile(r"(\b[Bb]asic(?:[ \t]+|%20|\+))([A-Za-z0-9+/]{4,}={0,2})")
# Secrets in URLs: "?key=v", "&access_token=v", "&sig=v", and "scheme://user:pass@host".
_URL_PARAM = re.compile(
    r"(?i)([?&;](?:key|api[-_]?key|(?:access|refresh|id|auth)?[-_]?token|code|secret"
    r"|client[-_]?secret|password|sig|signature|subscription[-_]?key)=)([^&#\s\"'<>]+)"
)
_URL_USERINFO = re.compile(r"(?i)(\b[a-z][a-z0-9+.\-]*://)[^\s/@\"'<>]+@")

_known_lock = threading.Lock()
_known: set[str] = set()


class Secret:
    """A string that never shows itself in ``repr``, ``str``, f-strings or pickles."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError("a Secret wraps a str")
        self._value = value

    def reveal(self) -> str:
        """The real value; only pass it straight to the code that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')" if self._value else "Secret('')"

    def __str__(self) -> str:
        return "********" if self._value else ""

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return hmac.compare_digest(self._value.encode(), other._value.encode())
        return NotImplemented

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")


def reveal(value: str | Secret) -> str:
    """The plain string of a key given either as ``str`` or ``Secret``."""
    return value.reveal() if isinstance(value, Secret) else value


def register_secret(value: str | Secret | None) -> None:
    """Remember a secret so every ``redact`` call and log filter hides it from now on."""
    if value is None:
        return
    plain = reveal(value)
    if len(plain) >= _MIN_SECRET_LENGTH:
        with _known_lock:
            _known.add(plain)


def forget_secret(value: str | Secret | None) -> None:
    """Stop tracking a secret (e.g. after the user deleted the key)."""
    if value is None:
        return
    with _known_lock:
        _known.discard(reveal(value))


def redact(text: str, secrets: Iterable[str | Secret | None] = ()) -> str:
    """Replace the given secrets, registered secrets and key-shaped strings with a marker."""
    if not text:
        return text
    with _known_lock:
        values = set(_known)
    values.update(reveal(s) for s in secrets if s is not None)
    for value in sorted((v for v in values if len(v) >= _MIN_SECRET_LENGTH), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    text = _URL_USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", text)
    for named in (_URL_PARAM, _AUTHORIZATION, _NAMED_KEY, _SECRET_FIELD, _BEARER):
        text = named.sub(_keep_name, text)
    text = _BASIC.sub(_hide_basic_credentials, text)
    for pattern in KEY_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def _keep_name(match: re.Match[str]) -> str:
    value = match.group(2)
    return match.group(0) if value.startswith(REDACTED) else match.group(1) + REDACTED


def _hide_basic_credentials(match: re.Match[str]) -> str:
    """Hide a Basic value only when it really is base64 of "user:password"."""
    try:
        decoded = base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        return match.group(0)
    readable = decoded.isascii() and decoded.decode("ascii").isprintable()
    return match.group(1) + REDACTED if readable and b":" in decoded else match.group(0)


class RedactingFilter(logging.Filter):
    """Scrub secrets from log records; attach it to handlers so child loggers are covered too."""

    def __init__(self, secrets: Iterable[str | Secret] = ()) -> None:
        super().__init__()
        self._secrets: list[str | Secret] = list(secrets)

    def add_secret(self, value: str | Secret) -> None:
        """Hide one more value in records this filter sees."""
        self._secrets.append(value)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = redact(message, self._secrets)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self._secrets)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD_RECORD_FIELDS and isinstance(value, str):
                setattr(record, name, redact(value, self._secrets))
        return True


_STANDARD_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({})))


def install_redaction(
    handler: logging.Handler, secrets: Iterable[str | Secret] = ()
) -> RedactingFilter:
    """Add a ``RedactingFilter`` to ``handler`` (once) and return it."""
    for existing in handler.filters:
        if isinstance(existing, RedactingFilter):
            for value in secrets:
                existing.add_secret(value)
            return existing
    found = RedactingFilter(secrets)
    handler.addFilter(found)
    return found

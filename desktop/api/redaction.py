"""Keep API keys out of text the user or a log file can see.

Three layers: ``Secret`` hides a value from ``repr``/``str``; ``redact`` scrubs known secrets and
anything shaped like an API key from a string; ``RedactingFilter`` applies ``redact`` to every
log record passing through a handler, including exception text.
"""

from __future__ import annotations

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
    # OpenAI-style keys: sk-..., sk-proj-..., sk-svcacct-...
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),
    # Authorization: Bearer <token>
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]{8,}=*"),
    # Azure OpenAI keys: 32 hex characters standing alone.
    re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{32}(?![0-9A-Za-z])"),
)
# "api-key: value", "api_key=value", '"api_key": "value"': keep the name, hide the value.
_NAMED_KEY = re.compile(r"(?i)(\bapi[-_]?key[\"']?\s*[:=]\s*[\"']?)([^\s\"',;}]+)")

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
    text = _NAMED_KEY.sub(lambda m: m.group(1) + REDACTED, text)
    for pattern in KEY_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


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

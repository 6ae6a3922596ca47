"""Findings: one problem in a dataset, said plainly, with where it is and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from desktop.core.frozen import quick_init


class Severity(str, Enum):
    """How much a finding matters: errors block the upload, the others only inform."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Sort key: errors first."""
        return {"error": 0, "warning": 1, "info": 2}[self.value]


@quick_init
@dataclass(frozen=True, slots=True)
class Finding:
    """One problem found in a dataset.

    Attributes:
        code: stable machine-readable identifier (e.g. ``missing_content``); tests, filters
            and the ``check --json`` output rely on it never changing.
        severity: error (OpenAI would reject the file), warning or info.
        text: one plain-language sentence for a person who has never seen JSON.
        line: 1-based line (or item/row) number in the source file; None for whole-file findings.
        message_index: 0-based index of the message concerned, when there is one.
        fix: a suggested fix, when there is one.
        record_id: the stable id of the record concerned, so the UI can jump to it.
    """

    code: str
    severity: Severity
    text: str
    line: int | None = None
    message_index: int | None = None
    fix: str | None = None
    record_id: int | None = None

    @property
    def blocking(self) -> bool:
        """True when this finding must be fixed before uploading."""
        return self.severity is Severity.ERROR

    def to_json(self) -> dict[str, object]:
        """The shape used by ``finetune-studio check --json``."""
        return {
            "code": self.code,
            "severity": self.severity.value,
            "line": self.line,
            "message_index": self.message_index,
            "text": self.text,
            "fix": self.fix,
        }

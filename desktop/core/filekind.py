"""Telling a dataset from the other things a user may open by mistake.

A folder, a program or a spreadsheet read as JSON Lines would become hundreds of "damaged
examples" and a confusing report; one look at the start of the file says what it is instead.
"""

from __future__ import annotations

import stat
from pathlib import Path

#: How much of a file is looked at: enough for any header, little enough to read at once.
SNIFF_BYTES = 64 * 1024
#: A smaller file is never called something else: a few damaged bytes are shown as lines.
MIN_JUDGED_BYTES = 512

_UTF16 = "text saved as UTF-16 or UTF-32; save it again as UTF-8 and open that"
_UTF16_32_MARKS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff", b"\xff\xfe", b"\xfe\xff")
#: Known binary formats, by their first bytes: what to call them and what to do instead.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (
        b"PK\x03\x04",
        "a compressed archive or an Office document; if it is a spreadsheet, "
        "save it as CSV (UTF-8) and open that",
    ),
    (
        b"\xd0\xcf\x11\xe0",
        "an Office document; if it is a spreadsheet, save it as CSV (UTF-8) and open that",
    ),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a compressed (gzip) file; extract it first"),
    (b"BZh", "a compressed (bzip2) file; extract it first"),
    (b"\xfd7zXZ\x00", "a compressed (xz) file; extract it first"),
    (b"7z\xbc\xaf\x27\x1c", "a compressed (7-Zip) archive; extract it first"),
    (b"SQLite format 3\x00", "a database"),
    (b"PAR1", "a Parquet file; export it as JSON Lines first"),
    (b"\x89PNG", "an image"),
    (b"\xff\xd8\xff", "an image"),
    (b"GIF8", "an image"),
)


def not_a_dataset(path: Path) -> str | None:
    """Why ``path`` cannot be a dataset, in one plain sentence; None when it may be one.

    Only the start of the file is read. Text that merely has damaged lines is a dataset:
    those lines are shown and can be repaired.
    """
    path = Path(path)
    name = path.name or str(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        return f"{name} was not found."
    except OSError as exc:
        return f"{name} could not be read: {exc.strerror or exc}."
    if stat.S_ISDIR(info.st_mode):
        return f"{name} is a folder, not a dataset. Open a .jsonl, .json or .csv file inside it."
    if not stat.S_ISREG(info.st_mode):
        return f"{name} is not a dataset: it is a device or a pipe, not a file."
    try:
        with open(path, "rb") as stream:
            head = stream.read(SNIFF_BYTES)
    except OSError as exc:
        return f"{name} could not be read: {exc.strerror or exc}."
    reason = binary_kind(head)
    return f"{name} is not a dataset: it is {reason}." if reason else None


def binary_kind(head: bytes) -> str | None:
    """What the first bytes of a file say it is when that is plainly not text ("a binary
    file", "a PDF document"…), or None for text, damaged text included.

    Only strong evidence counts, because a dataset with damaged lines must still open (its
    damage shown line by line): a known signature, text in UTF-16, or many NUL bytes, in a
    start of file large enough to judge and with no line that begins like a JSON example.
    """
    if len(head) < MIN_JUDGED_BYTES or _has_example_line(head):
        return None
    for mark in _UTF16_32_MARKS:
        if head.startswith(mark):
            return _UTF16
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    sample = head[:4096]
    zeros = sorted((sample[0::2].count(0), sample[1::2].count(0)))
    if zeros[0] * 4 < len(sample) < zeros[1] * 4:
        # Nearly every other byte is zero: plain text written as UTF-16 without a mark.
        return _UTF16
    if head.count(0) * 10 >= len(head):
        return "a binary file (a program, an image or another kind of document)"
    return None


def _has_example_line(head: bytes) -> bool:
    """True when some line starts the way a JSON Lines example does."""
    return any(
        line.lstrip(b"\xef\xbb\xbf \t\r").startswith((b'{"', b"{ ")) for line in head.split(b"\n")
    )

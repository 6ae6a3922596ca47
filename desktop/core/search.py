"""Which records hold a text: the rules of a search, and an index that answers quickly.

A record matches when the lower-cased search text appears in the lower case of one of its
texts: every string value of an example (keys excluded), or the whole line of a damaged or
empty one. ``SearchIndex`` keeps those texts lower-cased, in blocks of UTF-8 bytes, so that
searching 100,000 examples takes a few hundred byte searches instead of reading and
lower-casing every line. It remembers which record objects it read. Records are immutable (an
edit swaps in a new object), so a record edited, added or brought back since is searched
directly, never through text it no longer holds; ``refresh`` catches the index up.
"""

from __future__ import annotations

import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, compress, repeat
from operator import is_, not_
from typing import Any

from desktop.core.dataset import LineState, Record

#: A block of the index holds about this many bytes of text (a longer record makes a longer
#: block): one search of a block holds the interpreter for a fraction of a millisecond...
BLOCK_BYTES = 1 << 20
#: ...and at most this many records, so an edit makes the index read a few hundred again.
BLOCK_RECORDS = 512
#: Separates texts in the index. No match of a search text without it can span two texts;
#: a search text holding it is searched record by record.
SEPARATOR = "\0"
#: Records read or searched directly between two checks whether to go on.
CHECK_EVERY = 64
#: After this many records of a block hold the search text, the rest are asked one by one.
DENSE_AFTER = 16
#: Where the index's records are is worked out this many records at a time.
PLACES_SLICE = 4096

#: Called between steps; returning False stops the work.
GoOn = Callable[[], bool]

#: Characters outside ASCII whose lower case holds an ASCII letter: a line holding one may
#: match a needle with that letter although its bytes do not (checked by a test, for every
#: character Python knows).
LOWER_CASE_TO_ASCII = {"i": "\u0130", "k": "\u212a"}
_SEPARATOR_BYTES = SEPARATOR.encode()
#: True for what ``bytes.find`` returns when it finds something.
_FOUND = (-1).__ne__


def strings(value: Any) -> Iterator[str]:
    """Every string value inside ``value`` (keys excluded): what a search reads."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def record_matches(record: Record, needle: str) -> bool:
    """True when ``needle`` (lower-case) appears in any text of the record: the rule."""
    if record.state is not LineState.EXAMPLE:
        return needle in record.text.lower()
    return any(needle in text.lower() for text in strings(record.value))


def searchable_text(record: Record) -> bytes:
    """The record's texts as the index holds them: lower-cased, joined by SEPARATOR, in UTF-8
    (lone surrogates kept, so that a byte search finds exactly what a text search finds)."""
    if record.state is not LineState.EXAMPLE:
        text = record.text.lower()
    else:
        text = SEPARATOR.join([text.lower() for text in strings(record.value)])
    return text.encode("utf-8", "surrogatepass")


def searchable_piece(needle: str) -> bytes | None:
    """The longest run of the (lower-case) needle that a line holds in its lower-cased bytes
    whenever its text holds the needle, unless the line has a ``\\u`` escape (JSON may write
    any character so) or a character of LOWER_CASE_TO_ASCII whose letter is in the run.

    Its characters are printable ASCII but quotes, backslashes and slashes (JSON writes them
    as they are, and only ASCII letters change case), and letters without case such as CJK.
    None when the needle has no such character.
    """
    best = ""
    run: list[str] = []
    for char in [*needle, "\0"]:
        safe = (char.isascii() and char.isprintable() and char not in '"\\/') or (
            not char.isascii() and unicodedata.category(char) == "Lo"
        )
        if safe:
            run.append(char)
            continue
        if len(run) > len(best):
            best = "".join(run)
        run = []
    return best.encode("utf-8") if best else None


def _hiding_characters(piece: bytes) -> tuple[tuple[bytes, bytes], ...]:
    """The characters a line may write ``piece``'s letters with (see ``searchable_piece``),
    each with its first byte (one byte is found far faster than several)."""
    encoded = [
        char.encode("utf-8")
        for letter, char in LOWER_CASE_TO_ASCII.items()
        if letter.encode() in piece
    ]
    return tuple((char[:1], char) for char in encoded)


def _matching_directly(
    records: Sequence[Record], positions: list[int], needle: str, go_on: GoOn | None
) -> list[int] | None:
    """Those of ``positions`` whose record matches, by the rule, after a cheap look at the
    line's bytes that rules most lines out; None when stopped."""
    piece = searchable_piece(needle)
    hiding = _hiding_characters(piece) if piece is not None else ()
    example = LineState.EXAMPLE
    matching = []
    for count, position in enumerate(positions):
        if count % CHECK_EVERY == 0 and go_on is not None and not go_on():
            return None
        record = records[position]
        raw = record.raw
        if (
            piece is not None
            and raw is not None
            and record.state is example
            and piece not in raw.lower()
            and not (b"\\" in raw and b"\\u" in raw)
            and not (
                hiding
                and not raw.isascii()
                and any(first in raw and char in raw for first, char in hiding)
            )
        ):
            continue
        if record_matches(record, needle):
            matching.append(position)
    return matching


@dataclass(frozen=True, slots=True, eq=False)
class _Block:
    """Some records and their searchable texts, joined; ``starts[i]`` is where record i's text
    starts, and one more entry marks the end."""

    records: tuple[Record, ...]
    text: bytes
    starts: list[int]

    @classmethod
    def of(cls, records: list[Record], texts: list[bytes]) -> _Block:
        starts = [0, *accumulate(len(text) + 1 for text in texts)]
        return cls(tuple(records), _SEPARATOR_BYTES.join(texts), starts)

    def holding(self, key: bytes) -> list[int]:
        """Where in the block the records whose text holds ``key`` are, in order."""
        text, starts = self.text, self.starts
        slots: list[int] = []
        found = text.find(key)
        while found >= 0:
            slot = bisect_right(starts, found) - 1
            slots.append(slot)
            if len(slots) == DENSE_AFTER:
                # A common word: ask each later record's text in turn, at C speed, instead
                # of a Python step per match (most of a search's time when most match).
                later = range(slot + 1, len(self.records))
                finds = map(text.find, repeat(key), starts[slot + 1 : -1], starts[slot + 2 :])
                slots.extend(compress(later, map(_FOUND, finds)))
                break
            found = text.find(key, starts[slot + 1])  # the next record's text
        return slots


@dataclass(frozen=True, slots=True)
class _State:
    """What the index holds: its blocks, the identities of the record objects in them, and
    the records it was last brought up to date with, in their order then."""

    blocks: tuple[_Block, ...] = ()
    held: frozenset[int] = frozenset()
    order: tuple[Record, ...] = ()
    #: Where each block's records are in ``order``, block by block.
    places: tuple[list[int], ...] = ()


def _read(records: Sequence[Record], go_on: GoOn | None) -> list[_Block] | None:
    """Blocks holding the searchable texts of ``records``; None when stopped."""
    blocks: list[_Block] = []
    members: list[Record] = []
    texts: list[bytes] = []
    size = 0
    for count, record in enumerate(records):
        if count % CHECK_EVERY == 0 and go_on is not None and not go_on():
            return None
        text = searchable_text(record)
        members.append(record)
        texts.append(text)
        size += len(text) + 1
        if size >= BLOCK_BYTES or len(members) >= BLOCK_RECORDS:
            blocks.append(_Block.of(members, texts))
            members, texts, size = [], [], 0
    if members:
        blocks.append(_Block.of(members, texts))
    return blocks


def _places(
    blocks: Sequence[_Block], order: Sequence[Record], go_on: GoOn | None
) -> tuple[list[int], ...] | None:
    """Where each block's records are in ``order`` (which holds every one of them); None
    when stopped. Worked out a slice at a time, checking ``go_on`` between slices: in one go
    it kept the UI thread from the interpreter for tens of milliseconds."""
    place: dict[int, int] = {}
    for start in range(0, len(order), PLACES_SLICE):
        if go_on is not None and not go_on():
            return None
        piece = order[start : start + PLACES_SLICE]
        place.update(zip(map(id, piece), range(start, start + len(piece)), strict=True))
    places = []
    for block in blocks:
        if go_on is not None and not go_on():
            return None
        places.append([place[id(record)] for record in block.records])
    return tuple(places)


class SearchIndex:
    """The searchable texts of a dataset's records, lower-cased, read ahead of the search.

    ``refresh`` reads in the background what the index lacks; ``positions`` answers a search
    from the index for the records it holds and reads the others directly, so an answer never
    depends on how recent the index is, only its speed does. Both may run on worker threads:
    the index's state is replaced whole, never changed in place.
    """

    def __init__(self) -> None:
        self._state = _State()

    @property
    def size(self) -> int:
        """How many records the index holds."""
        return len(self._state.held)

    def positions(
        self, records: Sequence[Record], needle: str, go_on: GoOn | None = None
    ) -> list[int] | None:
        """Where in ``records`` the records matching ``needle`` (lower-case, not empty) are,
        in order; None when stopped."""
        state = self._state
        if SEPARATOR in needle:
            state = _State()
        key = needle.encode("utf-8", "surrogatepass")
        # Looked up in C: 100,000 records take a few milliseconds.
        unchanged = len(records) == len(state.order) and all(map(is_, records, state.order))
        if unchanged:  # every record is held, and where it is is known
            where: list[int] = []
            for block, places in zip(state.blocks, state.places, strict=True):
                if go_on is not None and not go_on():
                    return None
                where.extend(map(places.__getitem__, block.holding(key)))
            where.sort()
            return where
        found: set[int] = set()
        for block in state.blocks:
            if go_on is not None and not go_on():
                return None
            found.update(map(id, map(block.records.__getitem__, block.holding(key))))
        keys = list(map(id, records))
        hits = list(compress(range(len(keys)), map(found.__contains__, keys))) if found else []
        unread = list(compress(range(len(keys)), map(not_, map(state.held.__contains__, keys))))
        if not unread:
            return hits
        direct = _matching_directly(records, unread, needle, go_on)
        if direct is None:
            return None
        return sorted(hits + direct) if hits else direct

    def refresh(self, records: Sequence[Record], go_on: GoOn | None = None) -> bool:
        """Hold exactly ``records``: read those not held yet, and drop the blocks holding a
        record that is gone or was replaced (their other records are read again). False
        when stopped before the end (the index is then left as it was)."""
        state = self._state
        present = set(map(id, records))
        kept = [
            block
            for block in state.blocks
            if all(map(present.__contains__, map(id, block.records)))
        ]
        if len(kept) == len(state.blocks) and len(state.held) == len(present):
            order = tuple(records)
            moved = len(order) != len(state.order) or not all(map(is_, order, state.order))
            places = _places(state.blocks, order, go_on) if moved else state.places
            if places is None:
                return False
            self._state = _State(state.blocks, state.held, order, places)
            return True
        held: set[int] = set()
        for block in kept:
            held.update(map(id, block.records))
        unread = list(compress(records, map(not_, map(held.__contains__, map(id, records)))))
        built = _read(unread, go_on)
        if built is None:
            return False
        for block in built:
            held.update(map(id, block.records))
        kept_blocks = set(map(id, kept))
        dropped = [block for block in state.blocks if id(block) not in kept_blocks]
        blocks, order = (*kept, *built), tuple(records)
        places = _places(blocks, order, go_on)
        if places is None:
            return False
        self._state = _State(blocks, frozenset(held), order, places)
        del state, kept
        # Dropped blocks may hold the last references to many records: let them go a block at
        # a time, so that freeing them never holds the interpreter for long.
        while dropped:
            dropped.pop()
            if go_on is not None:
                go_on()
        return True

    def release(self) -> list[object]:
        """Forget every record, handing over what was held (to free it elsewhere)."""
        state, self._state = self._state, _State()
        held: list[object] = []
        for block in state.blocks:
            held.extend(block.records)
        held.extend(state.blocks)
        held.extend(state.order)
        return held

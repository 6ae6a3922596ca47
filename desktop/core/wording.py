"""Numbers in sentences the way people write them: "1 example", "3 examples"."""

from __future__ import annotations


def count(number: int, one: str, many: str | None = None) -> str:
    """``number`` with the noun that fits it: ``count(1, "example")`` is "1 example" and
    ``count(2_000, "example")`` is "2,000 examples" (``many`` for irregular plurals)."""
    noun = one if number == 1 else (many if many is not None else f"{one}s")
    return f"{number:,} {noun}"

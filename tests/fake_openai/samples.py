"""Small, valid training files for tests that need something to upload."""

from __future__ import annotations

import json


def chat_jsonl(count: int = 12, *, topic: str = "weather") -> bytes:
    """``count`` supervised chat examples as JSONL bytes."""
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "You answer briefly."},
                    {"role": "user", "content": f"Question {i} about {topic}?"},
                    {"role": "assistant", "content": f"Answer {i} about {topic}."},
                ]
            }
        )
        for i in range(count)
    ]
    return ("\n".join(lines) + "\n").encode()


def dpo_jsonl(count: int = 12) -> bytes:
    """``count`` preference (DPO) examples as JSONL bytes."""
    lines = [
        json.dumps(
            {
                "input": {"messages": [{"role": "user", "content": f"Say hi number {i}"}]},
                "preferred_output": [{"role": "assistant", "content": f"Hi {i}!"}],
                "non_preferred_output": [{"role": "assistant", "content": f"Go away {i}."}],
            }
        )
        for i in range(count)
    ]
    return ("\n".join(lines) + "\n").encode()

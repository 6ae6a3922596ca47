"""Try it as a prompt first: show the model some examples instead of training it.

Few-shot prompting puts N of the user's examples in front of every question as earlier turns of
the chat. It needs no training, but every question then carries those examples as input
tokens, while a fine-tuned model needs only the system prompt. :func:`few_shot_tokens` puts
numbers on that trade, per 1,000 questions. It ignores prompt caching, which bills a repeated
prefix at the lower cached rate and so can make few-shot cheaper than shown.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from desktop.core.catalog import Catalog
from desktop.core.conversations import InferencePrices, fine_tuned_prices, inference_prices
from desktop.core.evaluation import sample_items
from desktop.core.tokens import REPLY_PRIMING_TOKENS, TokenCounter, counter_for_model

QUESTIONS = 1000


def _system_of(example: Any) -> str | None:
    """The example's leading system message, when it has a non-blank text one."""
    messages = example.get("messages") if isinstance(example, dict) else None
    if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
        return None
    first = messages[0]
    content = first.get("content")
    if first.get("role") != "system" or not isinstance(content, str) or not content.strip():
        return None
    return content


def most_common_system(examples: Iterable[Any]) -> str | None:
    """The system message most examples start with (the first seen wins a tie); None if none.

    Also what the chat panel offers as the system prompt of a new chat.
    """
    counts = Counter(text for text in map(_system_of, examples) if text is not None)
    if not counts:
        return None
    return counts.most_common(1)[0][0]


def _turns(example: Any) -> list[dict[str, str]] | None:
    """The example's user/assistant turns as plain messages, or None when it cannot be shown.

    Usable examples have only text turns (system messages aside), start with the user and end
    with the assistant, so shown examples never put two turns of one side next to each other.
    """
    messages = example.get("messages") if isinstance(example, dict) else None
    if not isinstance(messages, list):
        return None
    turns: list[dict[str, str]] = []
    for message in messages:
        if not isinstance(message, dict):
            return None
        role, content = message.get("role"), message.get("content")
        if role == "system":
            continue
        if role not in ("user", "assistant") or message.get("tool_calls"):
            return None
        if not isinstance(content, str) or not content.strip():
            return None
        turns.append({"role": role, "content": content})
    if not turns or turns[0]["role"] != "user" or turns[-1]["role"] != "assistant":
        return None
    return turns


def build_few_shot(
    examples: Iterable[Any], n: int, seed: int | None = None, system: str | None = None
) -> list[dict[str, str]]:
    """A chat to which the user's new question is appended: system prompt, then N examples.

    The examples are the first ``n`` usable ones, or ``n`` chosen reproducibly from ``seed``;
    either way they keep the dataset's order and each keeps its turns in order. ``system``
    defaults to the examples' most common system message; pass "" for none.
    """
    if n < 0:
        raise ValueError(f"The number of examples to show cannot be negative ({n}).")
    examples = list(examples)
    usable = [turns for turns in map(_turns, examples) if turns is not None]
    chosen = usable[:n] if seed is None else sample_items(usable, n, seed)
    if system is None:
        system = most_common_system(examples)
    messages: list[dict[str, str]] = []
    if system and system.strip():
        messages.append({"role": "system", "content": system})
    for turns in chosen:
        messages.extend(turns)
    return messages


@dataclass(frozen=True, slots=True)
class FewShotFigures:
    """Token sizes and costs of few-shot prompting versus a fine-tuned model.

    ``prefix_tokens`` is what the system prompt and shown examples add to every question;
    ``system_tokens`` what the system prompt alone adds (all a fine-tuned model needs).
    ``question_tokens`` and ``answer_tokens`` are the means over the examples' last question
    and final reply. Costs are USD per 1,000 questions; None when a price is unknown.
    """

    model_id: str
    prefix_tokens: int
    system_tokens: int
    question_tokens: float
    answer_tokens: float
    few_shot_per_1000: float | None
    fine_tuned_per_1000: float | None

    @property
    def few_shot_prompt_tokens(self) -> float:
        """Input tokens of one question asked with the examples in front."""
        return self.prefix_tokens + self.question_tokens

    @property
    def fine_tuned_prompt_tokens(self) -> float:
        """Input tokens of one question asked of the fine-tuned model."""
        return self.system_tokens + self.question_tokens


def _messages_tokens(counter: TokenCounter, messages: list[dict[str, Any]]) -> int:
    """Tokens ``messages`` add to a request (the request's reply priming is not theirs)."""
    if not messages:
        return 0
    return counter.count({"messages": messages}).total - REPLY_PRIMING_TOKENS


def _question_and_answer(example: Any) -> tuple[str, str] | None:
    turns = _turns(example)
    if turns is None or len(turns) < 2:
        return None
    return turns[-2]["content"], turns[-1]["content"]


def _per_1000(prices: InferencePrices | None, prompt: float, answer: float) -> float | None:
    if prices is None:
        return None
    return prices.cost(round(QUESTIONS * prompt), round(QUESTIONS * answer))


def few_shot_tokens(
    messages: Sequence[Mapping[str, Any]],
    examples: Iterable[Any],
    model_id: str,
    *,
    catalog: Catalog,
    counter: TokenCounter | None = None,
    base_prices: InferencePrices | None = None,
) -> FewShotFigures:
    """How big a few-shot prompt from :func:`build_few_shot` is and what 1,000 questions cost.

    Few-shot runs on ``model_id`` itself, at ``base_prices`` when given, else at the price
    the app knows for ``model_id`` (unknown for base models, see ``conversations``). The
    fine-tuned figure uses the catalog's price for a model fine-tuned from ``model_id``'s base,
    sent only the system prompt. Typical question and answer sizes come from ``examples``.
    """
    counter = counter if counter is not None else counter_for_model(model_id)
    prefix = [dict(m) for m in messages]
    system = [m for m in prefix[:1] if m.get("role") == "system"]
    pairs = [qa for qa in map(_question_and_answer, examples) if qa is not None]
    question = answer = 0.0
    if pairs:
        question = sum(
            _messages_tokens(counter, [{"role": "user", "content": q}]) + REPLY_PRIMING_TOKENS
            for q, _ in pairs
        ) / len(pairs)
        answer = sum(counter.count_text(a) for _, a in pairs) / len(pairs)
    prefix_tokens = _messages_tokens(counter, prefix)
    system_tokens = _messages_tokens(counter, system)
    few_shot_prices = (
        base_prices if base_prices is not None else inference_prices(model_id, catalog)
    )
    return FewShotFigures(
        model_id=model_id,
        prefix_tokens=prefix_tokens,
        system_tokens=system_tokens,
        question_tokens=question,
        answer_tokens=answer,
        few_shot_per_1000=_per_1000(few_shot_prices, prefix_tokens + question, answer),
        fine_tuned_per_1000=_per_1000(
            fine_tuned_prices(model_id, catalog), system_tokens + question, answer
        ),
    )

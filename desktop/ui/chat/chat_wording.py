"""How the chat, compare and evaluation screens word things, so numbers read the same on each:
a reply's cost and its footer line, and one line about a model.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from desktop.api.chat import STOPPED
from desktop.api.profiles import ProviderKind
from desktop.core.conversations import ChatMessage, fine_tuned_prices

if TYPE_CHECKING:
    from desktop.ui.chat.chat_services import ChatServices
    from desktop.ui.chat.model_picker import ModelEntry


def format_cost(usd: float | None) -> str:
    """A reply's cost with two significant digits ("$0.000062"); "cost unknown" for None."""
    if usd is None:
        return "cost unknown"
    if usd <= 0:
        return "$0"
    if usd >= 1:
        return f"${usd:,.2f}"
    decimals = max(2, 1 - math.floor(math.log10(usd)))
    return f"${usd:.{decimals}f}"


def reply_footer(message: ChatMessage) -> str:
    """The line under a reply: tokens in and out, cost, and why it ended early."""
    parts = []
    if message.tokens_in is not None and message.tokens_out is not None:
        parts.append(f"{message.tokens_in:,} tokens in · {message.tokens_out:,} out")
        parts.append(format_cost(message.cost_usd))
    elif message.model:
        parts.append("usage not reported, cost unknown")
    reason = {
        STOPPED: "stopped by you",
        "length": "cut off at the length limit",
        "interrupted": "incomplete: the connection broke off",
        "content_filter": "cut off by the provider's content filter",
    }.get(message.finish_reason or "")
    if reason:
        parts.append(reason)
    return " · ".join(parts)


def model_summary(entry: ModelEntry | None, services: ChatServices) -> str:
    """One line about a model: what it is and what its replies cost."""
    if entry is None:
        return ""
    profile = services.directory.profile(entry.profile_id)
    parts = []
    if entry.is_fine_tuned and entry.base_model:
        parts.append(f"Fine-tuned from {entry.base_model}")
    if entry.legacy:
        parts.append("prompt/completion model: it continues the text you give it")
    if profile is not None and profile.kind is ProviderKind.LOCAL:
        parts.append("runs on a local server, no charge")
    elif entry.is_fine_tuned:
        prices = fine_tuned_prices(entry.model_id, services.catalog)
        if prices is not None:
            parts.append(
                f"${prices.input_per_1m:.2f} in / ${prices.output_per_1m:.2f} out per 1M tokens"
            )
    else:
        parts.append("cost per reply unknown: the app only knows fine-tuned models' prices")
    if entry.note:
        parts.append(entry.note)
    return " · ".join(parts)

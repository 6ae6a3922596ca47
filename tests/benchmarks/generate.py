"""A realistic synthetic chat dataset for benchmarks: varied lengths, repeated system prompts,
multi-turn conversations and several languages and scripts."""

from __future__ import annotations

import json
import random
from pathlib import Path

SYSTEM_PROMPTS = (
    "You are Ada, the friendly support assistant of Lumen Lamps. Answer briefly and kindly, "
    "and offer a next step when you cannot solve the problem yourself.",
    "You are a careful legal-intake assistant. Never give legal advice; collect facts and "
    "explain what a lawyer will need.",
    "Eres un asistente de soporte técnico. Responde en español, con pasos numerados.",
    "Du bist ein hilfsbereiter Kundenservice-Assistent eines Online-Buchhandels.",
    "あなたは旅行代理店のアシスタントです。丁寧な日本語で答えてください。",
)

WORDS = {
    "en": (
        "the order lamp light bulb shipping refund warranty please thank you week box cable "
        "switch broken works again colour warm bright dimmer app phone account password "
        "delivery address invoice return label store customer support team today tomorrow"
    ).split(),
    "es": (
        "el pedido lámpara envío reembolso garantía por favor gracias semana caja cable "
        "interruptor roto funciona otra vez color cálido brillante cuenta contraseña dirección"
    ).split(),
    "de": (
        "die Bestellung Buch Lieferung Rückerstattung Garantie bitte danke Woche Paket Konto "
        "Passwort Adresse Rechnung Rücksendung Kundendienst heute morgen schnell leider"
    ).split(),
    "ja": "注文 ランプ 配送 返金 保証 お願いします ありがとう 週 箱 ケーブル 壊れた 明るい".split(),
    "zh": "订单 灯 快递 退款 保修 请 谢谢 星期 盒子 电线 坏了 明亮 账户 密码 地址".split(),
    "ru": "заказ лампа доставка возврат гарантия пожалуйста спасибо неделя коробка".split(),
}


def sentence(rng: random.Random, language: str, words: int) -> str:
    """A sentence-like string of ``words`` words with punctuation and the odd number."""
    vocabulary = WORDS[language]
    picked = [rng.choice(vocabulary) for _ in range(words)]
    if rng.random() < 0.2:
        picked.insert(rng.randrange(len(picked) + 1), str(rng.randrange(1, 99999)))
    separator = "" if language in ("ja", "zh") else " "
    text = separator.join(picked)
    return text[:1].upper() + text[1:] + rng.choice(".!?。" if separator == "" else ".!?")


def paragraph(rng: random.Random, language: str, mean_words: int) -> str:
    """A few sentences; lengths vary widely, as replies in real datasets do."""
    total = max(1, int(rng.expovariate(1 / mean_words)))
    parts = []
    while total > 0:
        size = min(total, rng.randint(4, 18))
        parts.append(sentence(rng, language, size))
        total -= size
    return " ".join(parts)


def example(rng: random.Random) -> dict[str, object]:
    """One conversation: usually a system prompt, one to four user/assistant turns."""
    language = rng.choices(list(WORDS), weights=(60, 10, 10, 7, 7, 6))[0]
    messages: list[dict[str, object]] = []
    if rng.random() < 0.9:
        messages.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        messages.append({"role": "user", "content": paragraph(rng, language, 25)})
        messages.append({"role": "assistant", "content": paragraph(rng, language, 60)})
    return {"messages": messages}


def write_dataset(path: Path, count: int, seed: int = 7) -> Path:
    """Write ``count`` examples as JSONL to ``path`` and return it."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as stream:
        for _ in range(count):
            stream.write(json.dumps(example(rng), ensure_ascii=False))
            stream.write("\n")
    return path

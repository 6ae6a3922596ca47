"""Keys never show up in reprs, strings or log output."""

from __future__ import annotations

import io
import logging
import pickle

import pytest

from desktop.api.credentials import KeyStore
from desktop.api.profiles import profile_from_template
from desktop.api.redaction import (
    REDACTED,
    RedactingFilter,
    Secret,
    install_redaction,
    redact,
    register_secret,
)
from tests.api.keyrings import MemoryKeyring

OPENAI_KEY = "sk-proj-" + "Q1w2E3r4T5y6U7i8O9p0AaSsDdFfGgHh"
AZURE_KEY = "0123456789abcdef0123456789ABCDEF"


def test_secret_hides_its_value() -> None:
    secret = Secret(OPENAI_KEY)
    for text in (
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        "{}".format(secret),  # noqa: UP032 - str.format path on purpose
        "%s" % (secret,),  # noqa: UP031 - logging formats with %
    ):
        assert OPENAI_KEY not in text
    assert secret.reveal() == OPENAI_KEY
    assert Secret(OPENAI_KEY) == secret
    assert Secret("other") != secret
    assert not Secret("")
    with pytest.raises(TypeError):
        pickle.dumps(secret)


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        (f"key is {OPENAI_KEY}.", OPENAI_KEY),
        ("Authorization: Bearer abc.def-ghi_jkl", "abc.def-ghi_jkl"),
        (f"azure key {AZURE_KEY} used", AZURE_KEY),
        ('{"api_key": "plainvalue123"}', "plainvalue123"),
        ("api-key: zzzTopSecretzzz", "zzzTopSecretzzz"),
    ],
)
def test_redact_patterns(text: str, leak: str) -> None:
    cleaned = redact(text)
    assert leak not in cleaned
    assert REDACTED in cleaned


# Key shapes the app may meet without having loaded the key (another profile's key pasted into
# a message, a provider echoing a header, a URL in an error). Each row: the text, and exactly
# what may be shown, so nothing around the secret is mangled.
AZURE_84 = "7Fq2" * 13 + "JQQJ99BD" + "ACYb3kYb3kYb3kYb" + "A" + "COGx1a2"  # 84 characters
HEX_64 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
GROQ = "gsk_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2w3X4y5Z6"
XAI = "xai-" + "Q7w8E9r0T1y2U3i4O5p6A7s8D9f0G1h2J3k4L5z6X7c8V9b0N1m2Q3w4E5r6T7y8U9i0O1p2A3s4D5f6"
HUGGING_FACE = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh"
BASIC = "dXNlcjpwYXNzd29yZA=="  # user:password

SHAPES = [
    (f"key {AZURE_84} used", "key [redacted] used"),
    (f"AZURE_OPENAI_API_KEY={AZURE_84}", "AZURE_OPENAI_API_KEY=[redacted]"),
    (f"secret {HEX_64} here", "secret [redacted] here"),
    (f"Groq key: {GROQ}.", "Groq key: [redacted]."),
    (f"x={XAI}", "x=[redacted]"),
    (f"token {HUGGING_FACE}", "token [redacted]"),
    ("Authorization: Bearer abc1", "Authorization: Bearer [redacted]"),
    ("authorization=Bearer%20t0k", "authorization=[redacted]"),
    ("sent Bearer x9", "sent Bearer [redacted]"),
    ("curl -H Bearer%20sk-proj-abcdefgh123", "curl -H Bearer%20[redacted]"),
    ("url?auth=Bearer+sk-abc12345678", "url?auth=Bearer+[redacted]"),
    (
        "GET https://h.example/v1/models?key=abc123&limit=2",
        "GET https://h.example/v1/models?key=[redacted]&limit=2",
    ),
    (
        "https://h.example/v1?access_token=zzz999#top",
        "https://h.example/v1?access_token=[redacted]#top",
    ),
    ("https://h.example/v1?a=1&api-key=k3y", "https://h.example/v1?a=1&api-key=[redacted]"),
    ("https://bob:s3cret@h.example/v1", "https://[redacted]@h.example/v1"),
    ('{"key": "abcd1234"}', '{"key": "[redacted]"}'),
    ('{"token":"t0k3n", "n": 1}', '{"token":"[redacted]", "n": 1}'),
    ("{'access_token': 'ya29.abc'}", "{'access_token': '[redacted]'}"),
    ('{"client_secret": "s3cr3t"}', '{"client_secret": "[redacted]"}'),
    (f"Authorization: Basic {BASIC}", "Authorization: Basic [redacted]"),
    (f"auth Basic {BASIC} sent", "auth Basic [redacted] sent"),
    ("Ocp-Apim-Subscription-Key: 0123abcd", "Ocp-Apim-Subscription-Key: [redacted]"),
    ("x-api-key: pl41n", "x-api-key: [redacted]"),
    ("password=hunter2!", "password=[redacted]"),
]


@pytest.mark.parametrize(("text", "shown"), SHAPES)
def test_redact_key_shapes(text: str, shown: str) -> None:
    assert redact(text) == shown


# Ordinary text and the ids and hashes the app shows must come out unchanged.
ORDINARY = [
    "Job ftjob-abc123 finished with file-XYZ and model ft:gpt-4o-mini:org::id",
    "file-" + "0123456789abcdef" * 2,
    "ftckpt_" + "0123456789abcdef" * 4,
    "ft:gpt-4o-mini-2024-07-18:acme:support-bot:AbC123xy",
    f"saved in uploads/blobs/{HEX_64}.jsonl",
    f"event sha256:{HEX_64}",
    "550e8400-e29b-41d4-a716-446655440000",
    "xai-grok-2-latest and hf_hub and gsk_small",
    "the bearer of good news; Bearer bonds",
    "Basic examples are fine",
    "tokens: 1,234 (token budget: 2,000)",
    '{"max_tokens": 256, "prompt_tokens": "12", "monkey": "banana"}',
    "https://api.openai.com/v1/models?limit=20&after=file-abc",
    "https://h.example/v1/fine_tuning/jobs?key_count=3",
    "task-1234567890ab risk-assessment-framework desk-lamp",
    "Error code: 429 - rate limit; retry after 20 s",
    "user@example.com wrote: see https://example.com/a@b",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_redact_leaves_ordinary_text_alone(text: str) -> None:
    assert redact(text) == text


def test_redact_known_secret_of_any_shape() -> None:
    odd = "hunter2-but-longer"
    assert odd not in redact(f"password {odd}", [odd])
    assert odd not in redact(f"password {odd}", [Secret(odd)])
    register_secret("registered-value-xyz")
    assert "registered-value-xyz" not in redact("x registered-value-xyz y")


def test_redact_keeps_ordinary_text() -> None:
    text = "Job ftjob-abc123 finished with file-XYZ and model ft:gpt-4o-mini:org::id"
    assert redact(text) == text


def _capture_logger(name: str, secrets: list[str]) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s %(detail)s"))
    install_redaction(handler, secrets)
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_log_filter_scrubs_message_args_exceptions_and_extras() -> None:
    logger, stream = _capture_logger("test.redaction", [OPENAI_KEY])
    child = logging.getLogger("test.redaction.child")
    logger.info("using %s", OPENAI_KEY, extra={"detail": f"hdr Bearer {OPENAI_KEY}"})
    child.warning("azure %s", AZURE_KEY, extra={"detail": "-"})
    try:
        raise RuntimeError(f"failed with {OPENAI_KEY}")
    except RuntimeError:
        logger.exception("boom", extra={"detail": "-"})
    output = stream.getvalue()
    assert OPENAI_KEY not in output
    assert AZURE_KEY not in output
    assert output.count(REDACTED) >= 4
    assert "RuntimeError" in output  # the exception is still logged, only scrubbed


def test_install_redaction_is_idempotent() -> None:
    handler = logging.NullHandler()
    first = install_redaction(handler)
    second = install_redaction(handler, ["more-secret-value"])
    assert first is second
    assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1


def test_profiles_and_keystores_never_show_keys() -> None:
    store = KeyStore(MemoryKeyring())
    store.set("p1", OPENAI_KEY)
    store.set("p2", AZURE_KEY, session_only=True)
    profile = profile_from_template("openai")
    for text in (repr(store), repr(profile), repr(store.get("p1")), repr(store.get("p2"))):
        assert OPENAI_KEY not in text
        assert AZURE_KEY not in text

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

"""The training-backend seam: the registry, and the OpenAI-protocol backend's declarations."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from desktop.api.backends import BACKENDS, TRAITS, backend_for, trains, traits_of
from desktop.api.backends.openai_protocol import OpenAIProtocolBackend
from desktop.api.errors import ErrorKind, ProviderError
from desktop.api.profiles import (
    AZURE_CAPABILITIES,
    LOCAL_CAPABILITIES,
    OPENAI_CAPABILITIES,
    ProviderKind,
    ProviderProfile,
)
from desktop.core.catalog import Catalog
from desktop.core.jobs import JobStatus, JobSummary
from desktop.core.training import ChatRoute, ParameterRole
from tests.fake_openai import FakeOpenAIServer


def profile(server: FakeOpenAIServer, kind=ProviderKind.OPENAI, caps=OPENAI_CAPABILITIES):
    url = server.azure_base_url if kind is ProviderKind.AZURE else server.base_url
    return ProviderProfile(
        id=kind.value, display_name=kind.value, kind=kind, base_url=url, capabilities=caps
    )


def finished_job() -> JobSummary:
    return JobSummary(
        id="ftjob-1",
        status=JobStatus.SUCCEEDED,
        raw_status="succeeded",
        base_model="gpt-4.1-mini-2025-04-14",
        fine_tuned_model="ft:gpt-4.1-mini-2025-04-14:org:bot:abc",
        created_at=datetime(2026, 11, 20, tzinfo=timezone.utc),
    )


def test_every_kind_that_trains_declares_what_it_can_do():
    assert set(BACKENDS) == set(TRAITS)
    assert ProviderKind.LOCAL not in BACKENDS  # chat only


def test_a_chat_only_profile_or_a_missing_key_is_said_plainly(fake_openai):
    chat_only = profile(fake_openai, ProviderKind.LOCAL, LOCAL_CAPABILITIES)
    assert not trains(chat_only) and traits_of(chat_only) is None
    with pytest.raises(ProviderError, match="cannot train models"):
        backend_for(chat_only, None)
    with pytest.raises(ProviderError) as info:
        backend_for(profile(fake_openai), None)
    assert info.value.friendly.kind is ErrorKind.NO_KEY
    assert fake_openai.requests == []


def test_the_openai_api_declares_its_settings_per_method(fake_openai):
    with backend_for(profile(fake_openai), fake_openai.api_key) as backend:
        supervised = {spec.name: spec for spec in backend.parameters("supervised")}
        dpo = {spec.name for spec in backend.parameters("dpo")}
    assert set(supervised) == {"n_epochs", "batch_size", "learning_rate_multiplier"}
    assert dpo == set(supervised) | {"beta"}
    epochs = supervised["n_epochs"]
    assert epochs.role is ParameterRole.EPOCHS and epochs.automatic
    assert epochs.problem(51) == "Epochs can be at most 50."
    assert epochs.problem(2.5) == "Epochs must be a whole number."
    assert epochs.problem(None) is None and epochs.problem(3) is None


def test_trainable_models_come_from_the_provider_with_catalog_facts(fake_openai):
    catalog = Catalog.load()
    with backend_for(profile(fake_openai), fake_openai.api_key) as backend:
        models = backend.trainable_models(catalog)
    ids = [m.id for m in models]
    assert "gpt-4.1-mini-2025-04-14" in ids
    mini = models[ids.index("gpt-4.1-mini-2025-04-14")]
    assert mini.training_price_per_1m == catalog.get(mini.id).training_price_per_1m
    assert mini.exact_tokens and mini.retires_on is not None


def test_an_openai_model_cannot_be_downloaded_and_answers_by_its_name(fake_openai, tmp_path):
    job = finished_job()
    with backend_for(profile(fake_openai), fake_openai.api_key) as backend:
        target = backend.chat_target(job)
        assert target.route is ChatRoute.SAME_PROFILE
        assert backend.prepare_chat(target) == job.fine_tuned_model
        with pytest.raises(ProviderError, match="does not let a trained model be downloaded"):
            backend.download_result(job, tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert backend.traits.takes_jobs_until.isoformat() == "2027-01-06"


def test_azure_explains_the_deployment_it_needs(fake_openai):
    azure = profile(fake_openai, ProviderKind.AZURE, AZURE_CAPABILITIES)
    with backend_for(azure, fake_openai.api_key) as backend:
        assert isinstance(backend, OpenAIProtocolBackend)
        target = backend.chat_target(finished_job())
        assert target.route is ChatRoute.DEPLOY_ELSEWHERE
        assert "Microsoft Entra" in target.instructions
        with pytest.raises(ProviderError) as info:
            backend.prepare_chat(target)
    assert "deployment" in info.value.friendly.next_step
    assert backend.traits.can_pause and not backend.traits.downloadable


def test_a_hosted_model_is_chatted_with_through_its_own_profile(fake_openai):
    openai_profile = profile(fake_openai)
    with backend_for(openai_profile, fake_openai.api_key) as backend:
        name = backend.prepare_chat(backend.chat_target(finished_job()))
        assert backend.chat_profile(name) is openai_profile

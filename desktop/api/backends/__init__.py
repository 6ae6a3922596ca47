"""Training backends: one module per kind of service, chosen by the profile's kind.

A new hosted service is one new module implementing ``TrainingBackend`` (see ``base``) plus
its entry in ``BACKENDS`` below; the wizard, the Jobs tab, the chart, the advice and the
archive need no change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from desktop.api.backends.base import BackendFactory, TrainingBackend
from desktop.api.backends.local import LocalTrainingBackend
from desktop.api.backends.local import traits_for as local_traits
from desktop.api.backends.nebius import NebiusBackend
from desktop.api.backends.nebius import traits_for as nebius_traits
from desktop.api.backends.openai_protocol import OpenAIProtocolBackend
from desktop.api.backends.openai_protocol import traits_for as openai_traits
from desktop.api.backends.together import TogetherBackend
from desktop.api.backends.together import traits_for as together_traits
from desktop.api.client import build_client
from desktop.api.credentials import KeyStore
from desktop.api.errors import ErrorKind, FriendlyError, ProviderError, friendly_error
from desktop.api.profiles import ProviderKind, ProviderProfile
from desktop.api.redaction import Secret
from desktop.core.training import BackendTraits

Key = str | Secret | None


def _openai_protocol(profile: ProviderProfile, key: Key) -> TrainingBackend:
    return OpenAIProtocolBackend(profile, build_client(profile, key))


def _together(profile: ProviderProfile, key: Key) -> TrainingBackend:
    return TogetherBackend(profile, build_client(profile, key))


def _nebius(profile: ProviderProfile, key: Key) -> TrainingBackend:
    return NebiusBackend(profile, build_client(profile, key))


def _this_computer(profile: ProviderProfile, key: Key) -> TrainingBackend:
    return LocalTrainingBackend(profile)


#: How to reach each kind of service that trains (chat-only kinds are absent).
BACKENDS: Mapping[ProviderKind, Callable[[ProviderProfile, Key], TrainingBackend]] = (
    MappingProxyType(
        {
            ProviderKind.OPENAI: _openai_protocol,
            ProviderKind.AZURE: _openai_protocol,
            ProviderKind.COMPATIBLE: _openai_protocol,
            ProviderKind.TOGETHER: _together,
            ProviderKind.NEBIUS: _nebius,
            ProviderKind.LOCAL_TRAINING: _this_computer,
        }
    )
)

#: What each kind of service can do, known without a key or the network.
TRAITS: Mapping[ProviderKind, Callable[[ProviderProfile], BackendTraits]] = MappingProxyType(
    {
        ProviderKind.OPENAI: openai_traits,
        ProviderKind.AZURE: openai_traits,
        ProviderKind.COMPATIBLE: openai_traits,
        ProviderKind.TOGETHER: together_traits,
        ProviderKind.NEBIUS: nebius_traits,
        ProviderKind.LOCAL_TRAINING: local_traits,
    }
)


def trains(profile: ProviderProfile) -> bool:
    """True when the app can train models through this profile."""
    return profile.kind in BACKENDS and profile.capabilities.fine_tuning


def traits_of(profile: ProviderProfile) -> BackendTraits | None:
    """What training through this profile can do; None for a chat-only profile."""
    return TRAITS[profile.kind](profile) if trains(profile) else None


def backend_for(profile: ProviderProfile, key: Key) -> TrainingBackend:
    """The backend for a profile and its key; ``ProviderError`` (one plain sentence) when
    the profile cannot train, has no key, or may not be reached (plain http elsewhere)."""
    if not trains(profile):
        raise ProviderError(
            FriendlyError(
                kind=ErrorKind.INVALID_REQUEST,
                message=f"{profile.display_name} cannot train models.",
                next_step="Choose a provider profile that offers fine-tuning.",
                retryable=False,
            )
        )
    try:
        return BACKENDS[profile.kind](profile, key)
    except ProviderError:
        raise
    except Exception as exc:  # a missing key, an unusable address: said in plain words
        raise ProviderError(friendly_error(exc, secrets=[key])) from exc


def key_backend_factory(keys: KeyStore) -> BackendFactory:
    """Backends built with the profile's key from the key store (read on the calling thread)."""

    def make(profile: ProviderProfile) -> TrainingBackend:
        return backend_for(profile, keys.get(profile.id))

    return make


__all__ = [
    "BACKENDS",
    "TRAITS",
    "BackendFactory",
    "TrainingBackend",
    "backend_for",
    "key_backend_factory",
    "trains",
    "traits_of",
]

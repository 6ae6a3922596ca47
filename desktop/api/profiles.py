"""Provider profiles: where to send requests and what that provider can do.

A profile never holds a key (keys live in ``credentials``). Profiles are kept in one small,
versioned JSON file that is replaced atomically, so a crash cannot leave half a file behind.
"""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from desktop.core.jsonl_io import atomic_write

SCHEMA_VERSION = 1
PROFILES_FILE_NAME = "providers.json"
DEFAULT_TIMEOUT_SECONDS = 60.0
OPENAI_BASE_URL = "https://api.openai.com/v1"
NEBIUS_BASE_URL = "https://api.tokenfactory.nebius.com/v1/"
TOGETHER_BASE_URL = "https://api.together.xyz/v1"

LOCAL_PRESETS: Mapping[str, str] = MappingProxyType(
    {
        "Ollama": "http://localhost:11434/v1",
        "LM Studio": "http://localhost:1234/v1",
        "vLLM": "http://localhost:8000/v1",
        "llama.cpp": "http://localhost:8080/v1",
    }
)

COMPATIBLE_PRESETS: Mapping[str, str] = MappingProxyType({"Nebius Token Factory": NEBIUS_BASE_URL})

OPENAI_FINE_TUNABLE = (
    "gpt-4.1-2025-04-14",
    "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano-2025-04-14",
    "gpt-4o-2024-08-06",
    "gpt-4o-mini-2024-07-18",
    "gpt-3.5-turbo-0125",
    "davinci-002",
    "babbage-002",
)
AZURE_FINE_TUNABLE = (
    "gpt-4.1-2025-04-14",
    "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano-2025-04-14",
    "gpt-4o-2024-08-06",
    "gpt-4o-mini-2024-07-18",
)
#: The base models Nebius's documentation says it trains with LoRA and then serves.
NEBIUS_FINE_TUNABLE = (
    "meta-llama/Meta-Llama-3.1-8B-Instruct",
    "meta-llama/Llama-3.3-70B-Instruct",
)
#: Nebius takes a suffix of up to 64 characters; the app adds a 13-character tag to it.
NEBIUS_SUFFIX_MAX_LENGTH = 51

_AZURE_RESOURCE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?$")
_SLUG = re.compile(r"[^a-z0-9]+")


class ProfileError(ValueError):
    """A profile or its file is not usable; the message is meant for the user."""


class ProviderKind(str, Enum):
    """Which family of API a profile talks to."""

    OPENAI = "openai"
    AZURE = "azure"
    COMPATIBLE = "compatible"
    LOCAL = "local"
    NEBIUS = "nebius"
    TOGETHER = "together"
    LOCAL_TRAINING = "local_training"


@dataclass(frozen=True)
class Capabilities:
    """What a provider supports, so the app only offers what will work."""

    fine_tuning: bool = True
    methods: tuple[str, ...] = ("supervised",)
    suffix_supported: bool = True
    suffix_max_length: int = 64
    suffix_forbidden_chars: str = ""
    extra_body: Mapping[str, Any] = field(default_factory=dict, hash=False)
    deploy_before_chat: bool = False
    needs_key: bool = True
    catalog_models: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "methods", tuple(self.methods))
        object.__setattr__(self, "catalog_models", tuple(self.catalog_models))
        object.__setattr__(self, "extra_body", MappingProxyType(dict(self.extra_body)))

    def suffix_problem(self, suffix: str) -> str | None:
        """A plain sentence saying why ``suffix`` will be refused, or ``None`` if it is fine."""
        if not suffix:
            return None
        if not self.suffix_supported:
            return "This provider does not support a model name suffix."
        if len(suffix) > self.suffix_max_length:
            return f"The suffix can be at most {self.suffix_max_length} characters long."
        bad = sorted({c for c in suffix if c in self.suffix_forbidden_chars})
        if bad:
            shown = " ".join(f"“{c}”" for c in bad)
            return f"The suffix may not contain {shown} for this provider."
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "fine_tuning": self.fine_tuning,
            "methods": list(self.methods),
            "suffix_supported": self.suffix_supported,
            "suffix_max_length": self.suffix_max_length,
            "suffix_forbidden_chars": self.suffix_forbidden_chars,
            "extra_body": dict(self.extra_body),
            "deploy_before_chat": self.deploy_before_chat,
            "needs_key": self.needs_key,
            "catalog_models": list(self.catalog_models),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Capabilities:
        """Read the JSON form, keeping defaults for anything missing."""
        defaults = cls()
        extra = data.get("extra_body", {})
        if not isinstance(extra, Mapping):
            raise ProfileError("A provider profile has unreadable extra request fields.")
        return cls(
            fine_tuning=bool(data.get("fine_tuning", defaults.fine_tuning)),
            methods=tuple(str(m) for m in data.get("methods", defaults.methods)),
            suffix_supported=bool(data.get("suffix_supported", defaults.suffix_supported)),
            suffix_max_length=int(data.get("suffix_max_length", defaults.suffix_max_length)),
            suffix_forbidden_chars=str(data.get("suffix_forbidden_chars", "")),
            extra_body=dict(extra),
            deploy_before_chat=bool(data.get("deploy_before_chat", False)),
            needs_key=bool(data.get("needs_key", defaults.needs_key)),
            catalog_models=tuple(str(m) for m in data.get("catalog_models", ())),
        )


OPENAI_CAPABILITIES = Capabilities(
    fine_tuning=True,
    methods=("supervised", "dpo"),
    catalog_models=OPENAI_FINE_TUNABLE,
)
AZURE_CAPABILITIES = Capabilities(
    fine_tuning=True,
    methods=("supervised", "dpo"),
    suffix_forbidden_chars=".",
    extra_body={"trainingType": "Standard"},
    deploy_before_chat=True,
    catalog_models=AZURE_FINE_TUNABLE,
)
COMPATIBLE_CAPABILITIES = Capabilities(fine_tuning=True, methods=("supervised",))
NEBIUS_CAPABILITIES = Capabilities(
    fine_tuning=True,
    methods=("supervised",),
    suffix_max_length=NEBIUS_SUFFIX_MAX_LENGTH,
    deploy_before_chat=True,
    catalog_models=NEBIUS_FINE_TUNABLE,
)
#: Together takes a suffix of up to 40 characters; the app adds "-st" and 8 hex digits to it
#: to find a job again whose create answer was lost (see ``backends.together``).
TOGETHER_CAPABILITIES = Capabilities(
    fine_tuning=True,
    methods=("supervised", "dpo"),
    suffix_max_length=29,
    suffix_forbidden_chars=" /:\\",
    deploy_before_chat=True,
)
LOCAL_CAPABILITIES = Capabilities(
    fine_tuning=False, methods=(), suffix_supported=False, needs_key=False
)
#: Training on this computer: no key, and nothing is sent anywhere (the address is a
#: placeholder; chats go to the local server started for each model, see backends.local).
LOCAL_TRAINING_URL = "http://127.0.0.1"
LOCAL_TRAINING_CAPABILITIES = Capabilities(
    fine_tuning=True,
    methods=("supervised", "dpo"),
    suffix_max_length=40,
    suffix_forbidden_chars=" :/\\",
    deploy_before_chat=True,
    needs_key=False,
)


@dataclass(frozen=True)
class ProviderProfile:
    """One place the app can talk to. Holds no secret."""

    id: str
    display_name: str
    kind: ProviderKind
    base_url: str
    organization: str | None = None
    project: str | None = None
    capabilities: Capabilities = field(default_factory=Capabilities)
    azure_resource: str | None = None
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    allow_plain_http: bool = False

    def __post_init__(self) -> None:
        if not self.id:
            raise ProfileError("A provider profile needs an id.")
        if not self.display_name.strip():
            raise ProfileError("A provider profile needs a name.")
        object.__setattr__(self, "kind", ProviderKind(self.kind))
        object.__setattr__(self, "base_url", normalize_base_url(self.base_url))
        if self.kind is ProviderKind.COMPATIBLE and is_nebius_address(self.base_url):
            # Nebius speaks OpenAI's paths with payloads of its own, so its address is always
            # trained through its own backend (profiles saved before it had one, and the
            # compatible template's preset, said "compatible"); the id, and so the key and
            # the archived jobs, stay.
            object.__setattr__(self, "kind", ProviderKind.NEBIUS)
            object.__setattr__(self, "capabilities", NEBIUS_CAPABILITIES)
        if not 1 <= float(self.timeout_seconds) <= 3600:
            raise ProfileError("The network timeout must be between 1 second and 1 hour.")

    def with_changes(self, **changes: Any) -> ProviderProfile:
        """A copy with some fields replaced (validated again)."""
        return replace(self, **changes)

    @property
    def plain_http_warning(self) -> str | None:
        """Why this address is unsafe (plain http to another computer), or ``None``."""
        return plain_http_warning(self.base_url, sends_key=self.capabilities.needs_key)

    @property
    def plain_http_refused(self) -> bool:
        """Whether requests must not be sent: plain http elsewhere, not allowed by the user."""
        return self.plain_http_warning is not None and not self.allow_plain_http

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; there is deliberately no field for a key."""
        return {
            "id": self.id,
            "display_name": self.display_name,
            "kind": self.kind.value,
            "base_url": self.base_url,
            "organization": self.organization,
            "project": self.project,
            "azure_resource": self.azure_resource,
            "timeout_seconds": self.timeout_seconds,
            "allow_plain_http": self.allow_plain_http,
            "capabilities": self.capabilities.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProviderProfile:
        """Read the JSON form; unknown fields (including any stray key) are ignored."""
        try:
            return cls(
                id=str(data["id"]),
                display_name=str(data["display_name"]),
                kind=ProviderKind(data["kind"]),
                base_url=str(data["base_url"]),
                organization=_optional_str(data.get("organization")),
                project=_optional_str(data.get("project")),
                capabilities=Capabilities.from_dict(data.get("capabilities") or {}),
                azure_resource=_optional_str(data.get("azure_resource")),
                timeout_seconds=float(data.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)),
                allow_plain_http=data.get("allow_plain_http") is True,
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ProfileError):
                raise
            raise ProfileError("A saved provider profile is incomplete or damaged.") from exc


def _optional_str(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def normalize_base_url(url: str) -> str:
    """Trim and check an ``http(s)://host/...`` address; raises ``ProfileError`` if unusable."""
    text = (url or "").strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProfileError("The address must start with http:// or https:// and name a server.")
    if parts.query or parts.fragment:
        raise ProfileError("The address must not contain “?” or “#” parts.")
    return text


def is_nebius_address(url: str) -> bool:
    """Whether ``url`` is Nebius Token Factory's API (any region) or its former AI Studio's."""
    host = (urlsplit((url or "").strip()).hostname or "").rstrip(".").lower()
    return host == "api.studio.nebius.com" or (
        host.startswith("api.tokenfactory.") and host.endswith(".nebius.com")
    )


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` is this computer: ``localhost``, 127.0.0.0/8 or ``::1``."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def plain_http_warning(url: str, *, sends_key: bool = True) -> str | None:
    """A plain warning when ``url`` is unencrypted http to another computer, else ``None``.

    Only this computer may be reached over plain http without the user's say-so: anywhere
    else, anyone on the network in between could read the key and the data.
    """
    parts = urlsplit((url or "").strip())
    if parts.scheme.lower() != "http" or not parts.hostname:
        return None
    if is_loopback_host(parts.hostname):
        return None
    what = "your API key and everything you send" if sends_key else "everything you send"
    return (
        f"{parts.hostname} is reached over plain http, so {what} would travel unencrypted,"
        " readable by anyone on the network in between."
    )


def azure_resource_name(text: str) -> str:
    """The Azure resource name from what a user typed: a name, a host name or a full URL."""
    value = (text or "").strip()
    if "://" in value:
        value = urlsplit(value).hostname or ""
    for ending in (".openai.azure.com", ".cognitiveservices.azure.com", ".services.ai.azure.com"):
        if value.lower().endswith(ending):
            value = value[: -len(ending)]
    value = value.strip("/")
    if not _AZURE_RESOURCE.match(value):
        raise ProfileError(
            "The Azure resource name may only contain letters, digits and hyphens (2 to 64"
            " characters, not starting or ending with a hyphen)."
        )
    return value.lower()


def azure_base_url(resource: str) -> str:
    """The Azure OpenAI v1 endpoint for a resource name, e.g. ``https://r.openai.azure.com/openai/v1/``."""
    return f"https://{azure_resource_name(resource)}.openai.azure.com/openai/v1/"


@dataclass(frozen=True)
class ProfileTemplate:
    """A starting point offered when the user adds a profile."""

    key: str
    display_name: str
    kind: ProviderKind
    base_url: str
    description: str
    capabilities: Capabilities
    presets: Mapping[str, str] = field(default_factory=dict, hash=False)


TEMPLATES: Mapping[str, ProfileTemplate] = MappingProxyType(
    {
        "openai": ProfileTemplate(
            key="openai",
            display_name="OpenAI",
            kind=ProviderKind.OPENAI,
            base_url=OPENAI_BASE_URL,
            description="OpenAI's own API. Needs an API key from platform.openai.com.",
            capabilities=OPENAI_CAPABILITIES,
        ),
        "azure": ProfileTemplate(
            key="azure",
            display_name="Azure OpenAI",
            kind=ProviderKind.AZURE,
            base_url="",
            description=(
                "Azure OpenAI in your own Azure subscription. Needs the resource name and one of"
                " its keys; a fine-tuned model must be deployed before you can chat with it."
            ),
            capabilities=AZURE_CAPABILITIES,
        ),
        "nebius": ProfileTemplate(
            key="nebius",
            display_name="Nebius Token Factory",
            kind=ProviderKind.NEBIUS,
            base_url=NEBIUS_BASE_URL,
            description=(
                "Nebius Token Factory trains open models (Llama) with LoRA. To chat with the"
                " result, the app deploys it at Nebius, billed per token used. Needs an API key"
                " from tokenfactory.nebius.com."
            ),
            capabilities=NEBIUS_CAPABILITIES,
        ),
        "compatible": ProfileTemplate(
            key="compatible",
            display_name="OpenAI-compatible endpoint",
            kind=ProviderKind.COMPATIBLE,
            base_url="",
            description=(
                "Any service that speaks the OpenAI API at its own address, for example Nebius"
                " Token Factory. Enter the address the service gives you."
            ),
            capabilities=COMPATIBLE_CAPABILITIES,
            presets=COMPATIBLE_PRESETS,
        ),
        "together": ProfileTemplate(
            key="together",
            display_name="Together AI",
            kind=ProviderKind.TOGETHER,
            base_url=TOGETHER_BASE_URL,
            description=(
                "Together AI's own API: trains open models such as Llama and Qwen, gives its"
                " price before training, and lets you download the trained adapter or chat with"
                " it on a dedicated endpoint (billed per minute while it runs). Needs an API key"
                " from api.together.ai."
            ),
            capabilities=TOGETHER_CAPABILITIES,
        ),
        "local": ProfileTemplate(
            key="local",
            display_name="Local chat server",
            kind=ProviderKind.LOCAL,
            base_url=LOCAL_PRESETS["Ollama"],
            description=(
                "A chat server on this computer (Ollama, LM Studio, vLLM, llama.cpp). Chat only;"
                " no key needed."
            ),
            capabilities=LOCAL_CAPABILITIES,
            presets=LOCAL_PRESETS,
        ),
        "this_computer": ProfileTemplate(
            key="this_computer",
            display_name="This computer (LoRA)",
            kind=ProviderKind.LOCAL_TRAINING,
            base_url=LOCAL_TRAINING_URL,
            description=(
                "Train small open models (Qwen, Llama, Gemma, SmolLM) with LoRA on this"
                " computer, then chat with the result here. No key, nothing is sent anywhere;"
                " needs the optional training libraries."
            ),
            capabilities=LOCAL_TRAINING_CAPABILITIES,
        ),
    }
)


def new_profile_id(display_name: str) -> str:
    """A stable id: a readable slug plus a short random part."""
    slug = _SLUG.sub("-", display_name.lower()).strip("-")[:24] or "profile"
    return f"{slug}-{uuid.uuid4().hex[:8]}"


def profile_from_template(
    template_key: str,
    *,
    display_name: str | None = None,
    base_url: str | None = None,
    azure_resource: str | None = None,
    preset: str | None = None,
    organization: str | None = None,
    project: str | None = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    profile_id: str | None = None,
    allow_plain_http: bool = False,
) -> ProviderProfile:
    """Make a profile from one of ``TEMPLATES``, filling in what the user entered."""
    try:
        template = TEMPLATES[template_key]
    except KeyError:
        raise ProfileError(f"There is no provider template called “{template_key}”.") from None
    name = (display_name or template.display_name).strip()
    url = base_url if base_url is not None else template.base_url
    resource: str | None = None
    if template.kind is ProviderKind.AZURE:
        if not azure_resource:
            raise ProfileError("Enter the name of your Azure OpenAI resource.")
        resource = azure_resource_name(azure_resource)
        url = azure_base_url(resource)
        if display_name is None:
            name = f"Azure OpenAI ({resource})"
    elif preset is not None:
        if preset not in template.presets:
            raise ProfileError(f"There is no preset called “{preset}”.")
        url = template.presets[preset]
        if display_name is None:
            name = preset
    if not (url or "").strip():
        raise ProfileError(
            "Enter the address of the service (it starts with https://); the app sends"
            " nothing until you do."
        )
    return ProviderProfile(
        id=profile_id or new_profile_id(name),
        display_name=name,
        kind=template.kind,
        base_url=url,
        organization=_optional_str(organization),
        project=_optional_str(project),
        capabilities=template.capabilities,
        azure_resource=resource,
        timeout_seconds=timeout_seconds,
        allow_plain_http=allow_plain_http,
    )


class ProfileStore:
    """Several profiles, one active, saved as ``providers.json`` in a folder the caller picks."""

    def __init__(self, directory: Path | str) -> None:
        self._path = Path(directory) / PROFILES_FILE_NAME
        self._profiles: dict[str, ProviderProfile] = {}
        self._active: str | None = None
        self.load()

    @property
    def path(self) -> Path:
        """Where the profiles are saved."""
        return self._path

    @property
    def profiles(self) -> tuple[ProviderProfile, ...]:
        """All profiles in the order they were added."""
        return tuple(self._profiles.values())

    @property
    def active_id(self) -> str | None:
        """Id of the profile used for jobs, if any."""
        return self._active

    def active(self) -> ProviderProfile | None:
        """The profile used for jobs, if any."""
        return self._profiles.get(self._active) if self._active else None

    def get(self, profile_id: str) -> ProviderProfile:
        """One profile by id (``KeyError`` if missing)."""
        return self._profiles[profile_id]

    def __contains__(self, profile_id: object) -> bool:
        return profile_id in self._profiles

    def __len__(self) -> int:
        return len(self._profiles)

    def load(self) -> None:
        """Read the file (a missing file means no profiles yet)."""
        try:
            raw = self._path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self._profiles, self._active = {}, None
            return
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ProfileError(f"The provider settings file {self._path} is damaged.") from exc
        if not isinstance(data, dict) or not isinstance(data.get("profiles"), list):
            raise ProfileError(f"The provider settings file {self._path} is damaged.")
        version = data.get("schema_version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise ProfileError(
                "The provider settings were saved by a newer version of the app; update the app"
                " to use them."
            )
        profiles = [ProviderProfile.from_dict(item) for item in data["profiles"]]
        self._profiles = {p.id: p for p in profiles}
        active = data.get("active")
        self._active = active if active in self._profiles else None

    def save(self) -> None:
        """Write every profile atomically."""
        document = {
            "schema_version": SCHEMA_VERSION,
            "active": self._active,
            "profiles": [p.to_dict() for p in self._profiles.values()],
        }
        self._path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        atomic_write(self._path, text.encode("utf-8"))

    def add(self, profile: ProviderProfile, *, make_active: bool | None = None) -> None:
        """Add a new profile; the first one becomes active unless told otherwise."""
        if profile.id in self._profiles:
            raise ProfileError(f"A profile with id {profile.id} already exists.")
        self._profiles[profile.id] = profile
        if make_active or (make_active is None and self._active is None):
            self._active = profile.id
        self.save()

    def update(self, profile: ProviderProfile) -> None:
        """Replace the stored profile with the same id."""
        if profile.id not in self._profiles:
            raise KeyError(profile.id)
        self._profiles[profile.id] = profile
        self.save()

    def remove(self, profile_id: str) -> None:
        """Delete a profile; if it was active, the first remaining one becomes active."""
        del self._profiles[profile_id]
        if self._active == profile_id:
            self._active = next(iter(self._profiles), None)
        self.save()

    def set_active(self, profile_id: str) -> None:
        """Choose the profile used for jobs."""
        if profile_id not in self._profiles:
            raise KeyError(profile_id)
        self._active = profile_id
        self.save()

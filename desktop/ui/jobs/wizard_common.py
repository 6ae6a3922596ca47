"""What the training wizard's pages share: its wording, limits, small widgets and the
dataset it trains on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import QDoubleSpinBox, QLabel, QSpinBox, QVBoxLayout, QWidget

from desktop.api.backends import traits_of
from desktop.api.errors import ErrorKind, FriendlyError
from desktop.api.profiles import ProviderKind, ProviderProfile
from desktop.core.analysis import DatasetAnalysis
from desktop.core.estimate import Estimate
from desktop.core.findings import Finding
from desktop.core.kinds import ExampleKind, classify
from desktop.core.tokens import ExampleTokens
from desktop.core.training import (
    BackendTraits,
    ChatRoute,
    ParameterSpec,
    TrainableModel,
)
from desktop.local_training import hardware as local_hardware
from desktop.local_training.models import epoch_time_words, parameters_billion
from desktop.ui.common import palette

MIN_TRAINING_EXAMPLES = 10
MAX_SUFFIX = 64
MAX_SEED = 2_147_483_647
#: A provider's last day for new jobs is mentioned this many days ahead.
NOTICE_DAYS = 90
PAGE_SETUP, PAGE_REVIEW, PAGE_SEND = range(3)
APPROXIMATE_HERE = "; approximate: the app counts this model's tokens only roughly"
APPROXIMATE = (
    "; approximate: the app cannot count this model's tokens exactly the way its provider does"
)
REASSURANCE = (
    "Nothing has been sent yet. Start training uploads the examples and creates the job; the "
    "provider bills your account for it. The estimate counts tokens on this computer, and the "
    "provider's invoice is final."
)
REASSURANCE_HERE = (
    "Nothing has started yet. Start training copies the examples into the job's folder on this "
    "computer and trains there: nothing is sent anywhere and nothing is billed. The token "
    "count is an estimate."
)
METHOD_LABELS = {
    "supervised": "Supervised: learn from example answers",
    "dpo": "Preference (DPO): prefer one answer over another",
}

TIPS = {
    "provider": (
        "The service that trains and hosts your model. Manage these in Settings; the key is "
        "taken from there."
    ),
    "model": (
        "The model your examples are taught to. Bigger models answer better and cost more; "
        "a fine-tuned model stops working when its base model is retired."
    ),
    "method": (
        "Supervised training copies the answers in your examples. Preference training (DPO) "
        "needs pairs of a better and a worse answer and teaches the model to prefer the first."
    ),
    "validation": (
        "A validation set is a few examples kept out of training, used only to check the "
        "model on examples it has not seen. It shows whether the model is learning or just "
        "memorising, and it is not billed."
    ),
    "split": (
        "Set this share of your examples aside for validation. The same seed always picks "
        "the same examples, so a run can be repeated exactly."
    ),
    "suffix": (
        "A short name added to your model's name (e.g. ft:gpt-4.1-mini:…:support-bot:…) so "
        "you can tell your models apart. Letters, digits and dashes; up to {limit} characters."
    ),
    "folder": (
        "Train a model already on this computer: the folder that holds its config.json, its "
        "tokenizer and its .safetensors weights (an instruction-tuned model, with a chat "
        "template)."
    ),
    "seed": (
        "Training involves some randomness (the order of examples). A fixed seed makes a "
        "run repeatable with the same settings; leave it off to let the provider pick one."
    ),
    "wandb": (
        "Also send the training curves to your Weights & Biases project. Your W&B key must "
        "first be added in the provider's dashboard, or the job is refused."
    ),
    "tags": "Comma-separated labels for the run in Weights & Biases (at most 50).",
}


@dataclass(frozen=True)
class TrainingData:
    """The open dataset as the wizard needs it; the Dataset tab builds one on "Train".

    ``examples`` are the example values in file order (damaged lines left out);
    ``analysis`` holds the editor's checks, whose blocking findings stop an upload;
    ``still_checking`` is True while the editor has not finished checking every line;
    ``epochs`` is the estimator's choice (None: automatic), so the wizard starts from it.
    """

    name: str
    examples: Sequence[Any]
    analysis: DatasetAnalysis | None = None
    still_checking: bool = False
    epochs: int | None = None

    def kind(self) -> ExampleKind:
        """Chat or preference: what most examples are."""
        counts: dict[ExampleKind, int] = {}
        for value in self.examples:
            kind = classify(value)
            counts[kind] = counts.get(kind, 0) + 1
        preference = counts.get(ExampleKind.PREFERENCE, 0)
        return ExampleKind.PREFERENCE if preference * 2 > len(self.examples) else ExampleKind.CHAT

    def blocking(self) -> list[Finding]:
        """The findings that must be fixed before training."""
        if self.analysis is None:
            return []
        return [f for f in self.analysis.findings() if f.blocking]


DatasetProvider = Callable[[], TrainingData | None]


NEXT_STEPS_HERE = (
    "1. The examples are copied into the job's folder on this computer (nothing is sent "
    "anywhere).\n"
    "2. A training process starts on this computer; a base model that is not here yet is "
    "downloaded from the Hugging Face Hub first (the job's events show how far it got).\n"
    "3. Training runs; the Jobs tab shows the loss going down, and you can pause or cancel it "
    "there. Quitting the app asks whether it should go on training.\n"
    "4. When it finishes, chat with your model here (the app starts it on this computer), "
    "compare it with its base model, or export it."
)


def next_steps_for(traits: BackendTraits | None) -> str:
    """What happens after Start, for this provider."""
    act = "pause or cancel it" if traits is None or traits.can_pause else "cancel it"
    if traits is not None and ChatRoute.SAME_PROFILE not in traits.chat_routes:
        after = (
            "4. When it finishes, the app tells you; before you can chat with your model, "
            "it must be deployed (the Jobs tab says how and what that costs)"
        )
        if traits.downloadable:
            after += ", or you can download it"
        after += "."
    else:
        after = "4. When it finishes, the app tells you, and you can chat with your model."
    return (
        "1. The examples are uploaded (an identical file sent before is reused, not sent "
        "again).\n"
        "2. The provider checks the files, usually in a few minutes, and the job waits its "
        "turn.\n"
        f"3. Training runs; the Jobs tab shows the loss going down, and you can {act} "
        "there.\n" + after
    )


_CHARACTER_NAMES = {" ": "spaces", ":": "colons", "/": "slashes", "\\": "backslashes"}


def forbidden_words(characters: str) -> str:
    """ " :/" → "spaces, colons or slashes"."""
    names = list(dict.fromkeys(_CHARACTER_NAMES.get(c, f"“{c}”") for c in characters))
    if len(names) > 1:
        return ", ".join(names[:-1]) + " or " + names[-1]
    return names[0] if names else ""


def lower_first(label: str) -> str:
    """ "Batch size" → "batch size" inside a sentence; "LoRA rank" stays as it is."""
    first = label.split(" ", 1)[0]
    if first[1:] and not first[1:].islower():
        return label
    return label[:1].lower() + label[1:]


def disk_failure(exc: Exception) -> FriendlyError:
    return FriendlyError(
        kind=ErrorKind.UNKNOWN,
        message=f"The files could not be saved on this computer: {exc}",
        next_step="Check that the disk is not full, then try again.",
        retryable=True,
    )


def spin_box(low: int, high: int, value: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    return spin


def double_box(low: float, high: float, value: float, decimals: int) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setDecimals(decimals)
    spin.setRange(low, high)
    spin.setSingleStep(0.1)
    spin.setValue(value)
    return spin


class Note(QLabel):
    """A wrapped hint that takes no room while it is empty."""

    def __init__(self, text: str = "", color: str = palette.MUTED) -> None:
        super().__init__()
        self.setWordWrap(True)
        self.setStyleSheet(f"color: {color};")
        self.setText(text)

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setVisible(bool(text))


def with_note(field: QWidget, note: QLabel) -> QWidget:
    """A form field with its hint right under it."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(3)
    layout.addWidget(field)
    layout.addWidget(note)
    return box


@dataclass(frozen=True)
class Counted:
    """Token counts of every example for one encoding."""

    encoding: str
    counts: list[ExampleTokens]


@dataclass(frozen=True)
class Offer:
    """What the provider offers: the settings of each method and its models (or why they
    could not be listed; ``unreachable`` when the provider could not be asked at all)."""

    profile_id: str
    parameters: dict[str, tuple[ParameterSpec, ...]]
    models: list[TrainableModel]
    problem: FriendlyError | None
    unreachable: FriendlyError | None


def blocking_text(blocking: list[Finding]) -> str:
    """The dataset's blocking problems, the first few by line, and where to fix them."""
    one = len(blocking) == 1
    return (
        f"Your dataset has {len(blocking)} {'problem' if one else 'problems'} the provider "
        f"would reject; fix {'it' if one else 'them'} in the Dataset tab (the Findings list "
        f"shows {'it' if one else 'each'}), then train again." + finding_list(blocking)
    )


def finding_list(findings: list[Finding], shown: int = 5) -> str:
    """The first ``shown`` findings as bullet lines (with their line), and how many more."""
    lines = [(f"Line {f.line}: " if f.line is not None else "") + f.text for f in findings]
    more = len(lines) - shown
    return "\n• " + "\n• ".join(lines[:shown] + ([f"…and {more} more."] if more > 0 else []))


def quoting_traits(profile: ProviderProfile | None) -> BackendTraits | None:
    """The chosen provider's traits when it quotes its own price for a job."""
    traits = traits_of(profile) if profile is not None else None
    return traits if traits is not None and traits.price_estimate else None


def time_here(
    profile: ProviderProfile | None, model_id: str | None, estimate: Estimate, *, where: bool = True
) -> str | None:
    """About how long one epoch of these examples takes on this computer (``where``: and
    on what), or None when it does not train here or the model's size is not known (an
    unlisted Hub name)."""
    here = profile is not None and profile.kind is ProviderKind.LOCAL_TRAINING
    if not here or model_id is None or not estimate.billable_tokens_per_epoch:
        return None
    size = parameters_billion(model_id)
    if size is None:
        return None
    hardware = local_hardware.detect_hardware()
    return epoch_time_words(hardware, size, estimate.billable_tokens_per_epoch, where=where)


def tip_label(text: str, tip: str) -> QLabel:
    """A form label that explains its field (``tip`` is a key of TIPS)."""
    label = QLabel(text)
    label.setToolTip(TIPS[tip])
    return label

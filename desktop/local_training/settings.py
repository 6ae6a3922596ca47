"""The settings of a training job on this computer, as the wizard and the command line show
them: what each does in plain words, and defaults that suit the hardware found."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from desktop.core.training import ParameterKind, ParameterRole, ParameterSpec
from desktop.local_training.hardware import Hardware, defaults_for
from desktop.local_training.protocol import Settings


def parameters_for(hardware: Hardware) -> tuple[ParameterSpec, ...]:
    """The settings of a job here, with defaults that suit ``hardware``."""
    defaults = defaults_for(hardware)
    on = hardware.description
    return (
        ParameterSpec(
            name="n_epochs",
            label="Epochs",
            kind=ParameterKind.INT,
            help=(
                "An epoch is one pass over all your examples. More epochs teach them more firmly, "
                "take longer and can make the model repeat them word for word (1 to 50)."
            ),
            default=defaults.epochs,
            minimum=1,
            maximum=50,
            automatic_value=defaults.epochs,
            role=ParameterRole.EPOCHS,
        ),
        ParameterSpec(
            name="learning_rate",
            label="Learning rate",
            kind=ParameterKind.FLOAT,
            help=(
                "How big each adjustment is. 0.0002 suits LoRA on most small models; lower it if "
                "the loss swings up and down, raise it if the model barely changes."
            ),
            default=defaults.learning_rate,
            minimum=1e-6,
            maximum=1e-2,
            decimals=6,
            role=ParameterRole.LEARNING_RATE,
        ),
        ParameterSpec(
            name="batch_size",
            label="Batch size",
            kind=ParameterKind.INT,
            help=(
                "How many examples the model looks at before each adjustment. Larger batches "
                f"need more memory; {defaults.batch_size} suits this computer's {on} (1 to 64)."
            ),
            default=defaults.batch_size,
            minimum=1,
            maximum=64,
            role=ParameterRole.BATCH_SIZE,
        ),
        ParameterSpec(
            name="max_length",
            label="Longest example (tokens)",
            kind=ParameterKind.INT,
            help=(
                "Examples longer than this are cut short. Shorter is faster and needs less "
                f"memory; {defaults.max_length} suits this computer's {on}."
            ),
            default=defaults.max_length,
            minimum=64,
            maximum=32768,
        ),
        ParameterSpec(
            name="lora_r",
            label="LoRA rank",
            kind=ParameterKind.INT,
            help=(
                "How much the adapter can learn: 8 to 32 suits most datasets; a higher rank "
                "learns more detail and takes more memory (1 to 256)."
            ),
            default=defaults.lora_rank,
            minimum=1,
            maximum=256,
            advanced=True,
        ),
        ParameterSpec(
            name="lora_alpha",
            label="LoRA alpha",
            kind=ParameterKind.INT,
            help=("How strongly the adapter's changes count; usually twice the rank (1 to 512)."),
            default=defaults.lora_alpha,
            minimum=1,
            maximum=512,
            advanced=True,
        ),
        ParameterSpec(
            name="max_steps",
            label="Stop after steps",
            kind=ParameterKind.INT,
            help=(
                "Train this many steps at most, whatever the epochs say: a quick trial run. "
                "Automatic trains every epoch."
            ),
            default=None,
            minimum=1,
            maximum=1_000_000,
            advanced=True,
        ),
        ParameterSpec(
            name="beta",
            label="Beta",
            kind=ParameterKind.FLOAT,
            help=(
                "How strongly preference training pushes toward the preferred answers (above 0, up "
                "to 2). Higher values follow your preferences more strictly."
            ),
            default=0.1,
            minimum=0.01,
            maximum=2.0,
            decimals=2,
            methods=("dpo",),
        ),
    )


def resolve_settings(
    parameters: Mapping[str, Any], specs: tuple[ParameterSpec, ...], seed: int | None
) -> Settings:
    """The resolved settings: the user's values, the specs' defaults for the rest."""
    value = {s.name: parameters.get(s.name, s.default) for s in specs}
    return Settings(
        epochs=int(value["n_epochs"]),
        max_steps=int(value["max_steps"]) if value.get("max_steps") else None,
        learning_rate=float(value["learning_rate"]),
        batch_size=int(value["batch_size"]),
        max_length=int(value["max_length"]),
        lora_rank=int(value["lora_r"]),
        lora_alpha=int(value["lora_alpha"]),
        beta=float(value.get("beta") or 0.1),
        seed=seed if seed is not None else Settings().seed,
    )

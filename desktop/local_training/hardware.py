"""What this computer trains on, found without loading torch (the app must stay light).

An NVIDIA GPU shows in the driver's files or through ``nvidia-smi``; Apple Silicon is a Mac on
arm64. The training process checks again with torch itself and falls back to the processor
when the GPU is not usable, so a wrong guess here only changes the suggested settings.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path


class Device(str, Enum):
    """Where training runs."""

    CUDA = "cuda"
    MPS = "mps"
    CPU = "cpu"

    @property
    def label(self) -> str:
        """A few words for people."""
        return {
            Device.CUDA: "NVIDIA GPU",
            Device.MPS: "Apple GPU",
            Device.CPU: "processor",
        }[self]


@dataclass(frozen=True)
class Hardware:
    """This computer as training sees it: the device, its name, and the processor's cores."""

    device: Device
    name: str
    cores: int
    gpu_memory_gb: float | None = None

    @property
    def description(self) -> str:
        """``NVIDIA GeForce RTX 4070 (12 GB)``, ``Apple GPU``, ``processor (8 cores)``."""
        if self.device is Device.CPU:
            return f"processor ({self.cores} cores)" if self.cores != 1 else "processor (1 core)"
        if self.gpu_memory_gb:
            return f"{self.name} ({self.gpu_memory_gb:.0f} GB)"
        return self.name


@dataclass(frozen=True)
class Defaults:
    """Settings that suit the hardware: small batches and short examples on a processor."""

    batch_size: int
    max_length: int
    learning_rate: float = 2e-4
    epochs: int = 3
    lora_rank: int = 16
    lora_alpha: int = 32


def cpu_cores() -> int:
    """The processor cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except OSError:
            pass
    return max(1, os.cpu_count() or 1)


def _nvidia_from_driver() -> tuple[str, float | None] | None:
    """The first NVIDIA GPU the Linux driver lists (instant: no program is run)."""
    gpus = Path("/proc/driver/nvidia/gpus")
    try:
        folders = sorted(gpus.iterdir())
    except OSError:
        return None
    for folder in folders:
        try:
            text = (folder / "information").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Model:"):
                return line.split(":", 1)[1].strip() or "NVIDIA GPU", None
    return None


def _nvidia_from_smi() -> tuple[str, float | None] | None:
    """The first GPU ``nvidia-smi`` lists, with its memory; None without the program."""
    program = shutil.which("nvidia-smi")
    if program is None:
        return None
    try:
        result = subprocess.run(
            [program, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    first = result.stdout.strip().splitlines()[:1]
    if result.returncode != 0 or not first:
        return None
    name, _, memory = first[0].partition(",")
    try:
        gigabytes: float | None = float(memory.strip()) / 1024
    except ValueError:
        gigabytes = None
    return name.strip() or "NVIDIA GPU", gigabytes


@functools.lru_cache(maxsize=1)
def detect_hardware() -> Hardware:
    """This computer's best training device (asked once per run of the app)."""
    cores = cpu_cores()
    nvidia = _nvidia_from_smi() or _nvidia_from_driver()
    if nvidia is not None:
        name, memory = nvidia
        return Hardware(Device.CUDA, name, cores, memory)
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return Hardware(Device.MPS, "Apple GPU", cores)
    return Hardware(Device.CPU, "processor", cores)


def defaults_for(hardware: Hardware) -> Defaults:
    """Settings that train in reasonable time and memory on ``hardware``."""
    if hardware.device is Device.CUDA:
        return Defaults(batch_size=8, max_length=2048)
    if hardware.device is Device.MPS:
        return Defaults(batch_size=4, max_length=1024)
    return Defaults(batch_size=2, max_length=512)


#: Trained tokens a second, times (billions of parameters + 0.1): LoRA with the default
#: settings. The processor's figure comes from 2 cores otherwise almost idle
#: (tests/benchmarks/bench_local_step.py: randomly initialised SmolLM2-135M at 99 and
#: Qwen2.5-0.5B at 29 tokens a second, batches of 2 × 512 tokens; two to four times slower
#: while other programs kept the cores busy) and grows with the cores; the GPUs' are rough
#: multiples of it, not measured here. A guide, and said to be one.
_SPEED = {Device.CPU: 20.0, Device.MPS: 183.0, Device.CUDA: 2200.0}


def tokens_per_second(hardware: Hardware, parameters_billion: float) -> float:
    """A rough training speed for a model of this size on this hardware."""
    rate = _SPEED[hardware.device]
    if hardware.device is Device.CPU:
        rate *= hardware.cores / 2
    return rate / (max(parameters_billion, 0.0) + 0.1)


def duration_words(seconds: float) -> str:
    """``a few seconds``, ``about 40 seconds``, ``about 12 minutes``, ``about 3 hours``,
    ``about 2 days``."""
    if seconds < 8:
        return "a few seconds"
    if seconds < 90:
        return f"about {max(10, round(seconds / 10) * 10)} seconds"
    minutes = seconds / 60
    if minutes < 90:
        return f"about {round(minutes)} minutes"
    hours = minutes / 60
    if hours < 36:
        return f"about {round(hours)} hours" if round(hours) != 1 else "about 1 hour"
    days = round(hours / 24)
    return f"about {days} days" if days != 1 else "about 1 day"

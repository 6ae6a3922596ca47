"""Fine-Tune Studio: curate chat examples, estimate cost, fine-tune and chat with the result."""

from __future__ import annotations

__version__ = "0.1.0"
APP_NAME = "Fine-Tune Studio"
APP_ID = "finetune-studio"

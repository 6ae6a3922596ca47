"""Talking to fine-tuning providers: profiles, keys, clients and plain-language errors (no Qt)."""

from __future__ import annotations

"""Where the bundled resources live: source tree, installed wheel, or frozen app."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    """Return the folder holding encodings, the model catalog, samples and icons.

    A frozen (PyInstaller) app unpacks them next to the executable; an installed wheel carries
    them inside the package as ``desktop/resources``; a source checkout has them at the top level.
    """
    frozen_root = getattr(sys, "_MEIPASS", None)
    candidates = []
    if frozen_root:
        candidates.append(Path(frozen_root) / "resources")
    package_dir = Path(__file__).resolve().parent.parent
    candidates.append(package_dir / "resources")
    candidates.append(package_dir.parent / "resources")
    for candidate in candidates:
        if (candidate / "encodings").is_dir():
            return candidate
    searched = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"The app's resource folder is missing (looked in: {searched}).")


#: The bundled sample dataset's file name.
SAMPLE_NAME = "customer_support.jsonl"


def sample_path() -> Path:
    """The bundled sample dataset (opened from the welcome page and used by the tests)."""
    return resources_dir() / "samples" / SAMPLE_NAME

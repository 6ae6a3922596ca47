"""Write resources/licenses.json: every component the app ships with and its license.

Run after changing dependencies: ``python packaging/make_licenses.py``. The About dialog shows
the file (a frozen app carries no package metadata to read it from), and a test checks it still
covers every runtime dependency.
"""

from __future__ import annotations

import json
from pathlib import Path

from desktop.core.about import dependency_closure, license_of

ROOT = Path(__file__).resolve().parent.parent
EXTRA = [
    {
        "name": "Qt",
        "license": "LGPL-3.0-only",
        "note": "Used through PySide6 under the LGPL; the Qt libraries in the app folder can be "
        "replaced with a compatible build.",
    },
    {
        "name": "o200k_base and cl100k_base encodings",
        "license": "MIT",
        "note": "Tokenizer files published by OpenAI with tiktoken.",
    },
]


def main() -> None:
    """Collect the runtime dependency closure of finetune-studio and write the file."""
    components = [
        {"name": name, "license": license_of(name)} for name in sorted(dependency_closure())
    ]
    path = ROOT / "resources" / "licenses.json"
    path.write_text(
        json.dumps({"components": EXTRA + components}, indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    print(f"wrote {path} ({len(components)} packages)")


if __name__ == "__main__":
    main()

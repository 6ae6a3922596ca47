#!/usr/bin/env bash
# Make a drag-to-Applications disk image from the app bundle that `python packaging/build.py`
# leaves in dist/ (macOS only; uses the system's hdiutil).
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(python3 -c 'import re,pathlib;print(re.search(r"__version__ = \"([^\"]+)\"",pathlib.Path("desktop/__init__.py").read_text()).group(1))')
app="dist/Fine-Tune Studio.app"
[ -d "$app" ] || { echo "Build the app first: python3 packaging/build.py" >&2; exit 1; }
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
cp -R "$app" "$staging/"
ln -s /Applications "$staging/Applications"
hdiutil create -volname "Fine-Tune Studio" -srcfolder "$staging" -ov -format UDZO \
    "dist/FineTuneStudio-${version}.dmg"
echo "Made dist/FineTuneStudio-${version}.dmg"

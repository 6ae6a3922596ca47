"""Build the double-clickable app for this platform, then smoke-test it offline.

Usage: ``python packaging/build.py [--skip-install] [--no-package]``

1. Installs what the build needs (the project and PyInstaller, with pip; on Debian/Ubuntu as
   root also the Qt system libraries and dpkg, with apt-get).
2. Runs PyInstaller on ``packaging/finetune_studio.spec`` (a one-folder app in
   ``dist/FineTuneStudio``, or ``dist/Fine-Tune Studio.app`` on macOS).
3. Runs the frozen app's self-test headless, with no network (unreachable proxy and base URL,
   connections refused inside the app), a temporary home and an empty tiktoken cache: it opens
   the bundled sample, counts tokens with both encodings and shows the window offscreen.
4. On Linux, packs ``dist/finetune-studio-<version>-linux-<arch>.tar.gz`` and a ``.deb`` with a
   desktop entry, icon and AppStream metadata (AppImage tooling is not available from the
   package registries this project builds from). Windows and macOS installers are made by the
   Inno Setup script and the dmg recipe next to this file, on those systems.

It prints the bundle size and the cold start time of the frozen app.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
DIST = ROOT / "dist"
APP_FOLDER = DIST / "FineTuneStudio"
EXECUTABLE = APP_FOLDER / ("FineTuneStudio.exe" if os.name == "nt" else "FineTuneStudio")
APT_PACKAGES = [
    "libegl1",
    "libgl1",
    "libxkbcommon0",
    "libfontconfig1",
    "libfreetype6",
    "libdbus-1-3",
    "libglib2.0-0",
    "binutils",
    "dpkg",
]


def version() -> str:
    """The app's version, from its single source."""
    text = (ROOT / "desktop" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if match is None:
        raise SystemExit("desktop/__init__.py has no __version__")
    return match.group(1)


def run(command: list[str], **kwargs: object) -> None:
    """Run a command, echoing it, and stop the build if it fails."""
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, **kwargs)  # type: ignore[call-overload]


def install_requirements() -> None:
    """Install the system libraries (Debian/Ubuntu, as root) and the Python packages."""
    if sys.platform.startswith("linux") and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run(["apt-get", "update", "-qq"], env=env)
        run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *APT_PACKAGES], env=env)
    run([sys.executable, "-m", "pip", "install", "-q", str(ROOT), "pyinstaller>=6.10"])


def freeze() -> None:
    """Run PyInstaller on the checked-in spec."""
    shutil.rmtree(APP_FOLDER, ignore_errors=True)
    with tempfile.TemporaryDirectory() as work:
        run(
            [
                sys.executable,
                "-m",
                "PyInstaller",
                "--noconfirm",
                "--clean",
                "--log-level=WARN",
                "--distpath",
                str(DIST),
                "--workpath",
                work,
                str(PACKAGING / "finetune_studio.spec"),
            ],
            cwd=ROOT,
        )


def strip_python_runtime() -> None:
    """Drop the debug symbols of libpython and the interpreter's extension modules (Linux).

    A self-built Python carries them (libpython alone shrinks from about 23 MB to 6 MB);
    libraries that come inside wheels are left alone, since stripping them can break them.
    """
    strip = shutil.which("strip")
    if not sys.platform.startswith("linux") or strip is None:
        return
    internal = APP_FOLDER / "_internal"
    targets = [*internal.glob("libpython3*.so*"), *internal.glob("python3*/lib-dynload/*.so")]
    for target in targets:
        subprocess.run([strip, "--strip-debug", str(target)], check=True)


def offline_environment(home: Path) -> dict[str, str]:
    """An environment with no way out: no proxy, unreachable endpoints, a fresh home."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.lower().endswith("_proxy") and not key.startswith(("OPENAI_", "AZURE_"))
    }
    env.update(
        {
            "HOME": str(home),
            "USERPROFILE": str(home),
            "FINETUNE_STUDIO_HOME": str(home / "studio"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "QT_QPA_PLATFORM": "offscreen",
            "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
            "http_proxy": "http://127.0.0.1:9",
            "https_proxy": "http://127.0.0.1:9",
            "all_proxy": "http://127.0.0.1:9",
            "no_proxy": "",
        }
    )
    return env


def smoke_test(executable: Path) -> float:
    """Run the frozen app's self-test offline; return its wall time (the cold start)."""
    with tempfile.TemporaryDirectory() as home:
        started = time.perf_counter()
        result = subprocess.run(
            [str(executable), "selftest", "--gui"],
            env=offline_environment(Path(home)),
            capture_output=True,
            text=True,
            timeout=300,
        )
        seconds = time.perf_counter() - started
    print(result.stdout, end="")
    if result.returncode != 0:
        print(result.stderr, end="", file=sys.stderr)
        raise SystemExit(f"The frozen app's self-test failed (exit {result.returncode}).")
    if "counted with tiktoken alone" in result.stdout:
        raise SystemExit("The frozen app counts without the fast counter: quicktok is missing.")
    return seconds


def folder_size(folder: Path) -> int:
    """Bytes in a folder, following no links."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def package_linux(app_version: str) -> list[Path]:
    """A tar.gz of the app folder and a .deb that installs it with a menu entry."""
    arch = platform.machine().lower()
    name = f"finetune-studio-{app_version}-linux-{arch}"
    tarball = DIST / f"{name}.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(APP_FOLDER, arcname=name)
    made = [tarball]
    if shutil.which("dpkg-deb"):
        made.append(build_deb(app_version))
    return made


def build_deb(app_version: str) -> Path:
    """Lay out /opt, /usr/bin, the desktop entry, icon and metainfo, then dpkg-deb it."""
    deb_arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    linux = PACKAGING / "linux"
    with tempfile.TemporaryDirectory() as staging_dir:
        staging = Path(staging_dir)
        staging.chmod(0o755)  # the package's "./" entry: never make / private on install
        shutil.copytree(APP_FOLDER, staging / "opt" / "finetune-studio", symlinks=True)
        bin_dir = staging / "usr" / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "finetune-studio").symlink_to("/opt/finetune-studio/FineTuneStudio")
        share = staging / "usr" / "share"
        for source, target in (
            (linux / "finetune-studio.desktop", share / "applications"),
            (linux / "app.finetunestudio.FineTuneStudio.metainfo.xml", share / "metainfo"),
            (ROOT / "resources" / "icons" / "app.png", share / "icons/hicolor/256x256/apps"),
        ):
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        (share / "icons/hicolor/256x256/apps/app.png").rename(
            share / "icons/hicolor/256x256/apps/finetune-studio.png"
        )
        control = staging / "DEBIAN"
        control.mkdir()
        size_kib = folder_size(staging) // 1024
        (control / "control").write_text(
            (linux / "control.in")
            .read_text(encoding="utf-8")
            .format(version=app_version, arch=deb_arch, size=size_kib),
            encoding="utf-8",
        )
        target = DIST / f"finetune-studio_{app_version}_{deb_arch}.deb"
        run(["dpkg-deb", "--root-owner-group", "--build", str(staging), str(target)])
    return target


def main() -> None:
    """Build, smoke-test and package."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-install", action="store_true", help="use what is installed")
    parser.add_argument("--no-package", action="store_true", help="freeze and test only")
    options = parser.parse_args()
    if not options.skip_install:
        install_requirements()
    app_version = version()
    started = time.perf_counter()
    freeze()
    strip_python_runtime()
    print(f"Froze the app in {time.perf_counter() - started:.0f} s")
    cold_start = smoke_test(EXECUTABLE)
    print(f"Bundle: {APP_FOLDER} = {folder_size(APP_FOLDER) / 1e6:.0f} MB unpacked")
    print(f"Cold start (self-test with the window and the sample loaded): {cold_start:.2f} s")
    if options.no_package or not sys.platform.startswith("linux"):
        return
    for path in package_linux(app_version):
        print(f"Made {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()

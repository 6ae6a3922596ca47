"""Reproduce the editor screenshots in this folder from a real window under X.

Run from the repository root (needs Xvfb and ImageMagick's ``import``):

    xvfb-run -a -s "-screen 0 1440x900x24" python packaging/screenshots/take_screenshots.py

Each picture is the whole X screen, grabbed with ``import -window root`` after the window has
been maximised and has finished its background work.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    """Take editor-welcome.png, editor-sample.png and editor-errors.png."""
    home = Path(tempfile.mkdtemp(prefix="ft-shots-"))
    os.environ["FINETUNE_STUDIO_HOME"] = str(home)
    from PySide6.QtCore import QEventLoop, QThreadPool, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop.core.resources import sample_path
    from desktop.ui.main_window import MainWindow

    app = QApplication(sys.argv[:1])
    app.setApplicationDisplayName("Fine-Tune Studio")

    def wait(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait_until(test: Callable[[], bool], timeout_ms: int = 20_000) -> None:
        waited = 0
        while not test() and waited < timeout_ms:
            wait(50)
            waited += 50

    def shoot(name: str) -> None:
        wait(600)
        target = HERE / name
        subprocess.run(["import", "-window", "root", str(target)], check=True)
        print("wrote", target)

    window = MainWindow()
    documents = home / "Documents"
    documents.mkdir()
    for name in ("support-answers.jsonl", "returns-policy-v2.jsonl"):
        (documents / name).write_bytes(sample_path().read_bytes())
    window.settings.recent_files = [str(p) for p in sorted(documents.iterdir())]
    window.showMaximized()
    window.files.refresh_recent_menu()
    shoot("editor-welcome.png")

    window.open_sample()
    wait_until(lambda: not window.document.busy)
    window.editor_panel.select_record(window.document.table.record_id_at(2))
    shoot("editor-sample.png")

    lines = sample_path().read_text(encoding="utf-8").splitlines()[:12]
    damaged = lines[3][: len(lines[3]) // 2]
    no_reply = json.loads(lines[5])
    no_reply["messages"] = no_reply["messages"][:2]
    lines[3] = damaged
    lines[5] = json.dumps(no_reply, ensure_ascii=False)
    lines.insert(8, "")
    draft = home / "support-draft.jsonl"
    draft.write_text("\n".join(lines) + "\n", encoding="utf-8")
    window.document.undo_stack.clear()
    window.document.new()
    window.open_path(draft, ask=False)
    wait_until(lambda: not window.document.busy)
    window.editor_panel.select_record(window.document.table.record_id_at(3))
    shoot("editor-errors.png")

    window.document.new()
    window.close()
    QThreadPool.globalInstance().waitForDone()
    return 0


if __name__ == "__main__":
    sys.exit(main())

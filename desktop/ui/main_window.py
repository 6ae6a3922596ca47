"""The main window: the dataset editor in the centre, findings and cost beside it.

The window assembles itself: menus from one table of commands (``ACTIONS``), the tabs and
the status bar. The work behind the commands lives in controllers: files
(``window_files``), bulk tools (``window_bulk``), import and export (``window_exchange``) and
the recovery journal (``window_recovery``). Every question the window asks goes through one
``ask_*`` or ``choose_*`` method of the window, so tests can answer it without touching Qt's
message boxes.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable
from datetime import date
from pathlib import Path

from PySide6.QtCore import QByteArray, QSize, Qt, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop import APP_NAME
from desktop.core.catalog import Catalog
from desktop.core.interchange import ExportFormat
from desktop.core.journal import JournalEntry, RecoveryJournal
from desktop.core.jsonl_io import SaveError, is_read_only
from desktop.core.settings import AppSettings, SettingsStore
from desktop.ui.common import palette
from desktop.ui.common.about_dialog import AboutDialog, app_icon
from desktop.ui.common.sizing import fit_to_screen, scrolled
from desktop.ui.dataset.document import DatasetDocument
from desktop.ui.dataset.editor_panel import DatasetEditorPanel
from desktop.ui.dataset.estimator_panel import EstimatorPanel
from desktop.ui.dataset.findings_panel import FindingsPanel
from desktop.ui.dataset.welcome import WelcomePage
from desktop.ui.window import prompts as window_prompts
from desktop.ui.window.actions import ActionSpec, Kind, build_menus, enable
from desktop.ui.window.bulk import BulkController
from desktop.ui.window.exchange import ExchangeController
from desktop.ui.window.files import FileController, sample_path
from desktop.ui.window.prompts import describe_entry
from desktop.ui.window.recovery import AUTOSAVE_TICK_MS, RecoveryBar, RecoveryController

__all__ = [
    "ACTIONS",
    "AUTOSAVE_TICK_MS",
    "MainWindow",
    "describe_entry",
    "sample_path",
]

log = logging.getLogger(__name__)

PAGE_WELCOME, PAGE_EDITOR = 0, 1

_KEYS = QKeySequence.StandardKey

#: The window is never smaller (nor smaller than its pages need).
SMALLEST_WINDOW = QSize(960, 600)

_FILE, _EDIT, _TOOLS, _HELP = "&File", "&Edit", "&Tools", "&Help"

#: Every command of the menus, in menu order. ``enabled_when`` names a state that
#: ``MainWindow.update_actions`` works out.
ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec(_FILE, "new", "&New Dataset", "files.new_dataset", shortcut=_KEYS.New),
    ActionSpec(_FILE, "open", "&Open…", "files.open_dialog", shortcut=_KEYS.Open),
    ActionSpec(_FILE, "recent", "Open &Recent", kind=Kind.SUBMENU),
    ActionSpec(_FILE, "open_sample", "Open the &Sample Dataset", "files.open_sample"),
    ActionSpec(
        _FILE,
        "save",
        "&Save",
        "files.save",
        shortcut=_KEYS.Save,
        enabled_when="editable",
        separated=True,
    ),
    ActionSpec(
        _FILE,
        "save_as",
        "Save &As…",
        "files.save_as",
        shortcut=_KEYS.SaveAs,
        enabled_when="editable",
    ),
    ActionSpec(
        _FILE,
        "import",
        "&Import…",
        "exchange.import_dialog",
        shortcut="Ctrl+I",
        tip="Bring in prompt/completion, CSV, JSON, ShareGPT, Alpaca or Gemini files.",
        separated=True,
    ),
    ActionSpec(
        _FILE,
        "export",
        "&Export…",
        "exchange.export_dialog",
        shortcut="Ctrl+E",
        tip="Write OpenAI chat JSONL, ShareGPT, Alpaca or Gemini files.",
        enabled_when="has_rows",
    ),
    ActionSpec(
        _FILE,
        "close",
        "&Close",
        "files.close_dataset",
        shortcut=_KEYS.Close,
        enabled_when="open",
        separated=True,
    ),
    ActionSpec(_FILE, "quit", "&Quit", "close", shortcut=_KEYS.Quit, fallback="Ctrl+Q"),
    ActionSpec(_EDIT, "undo", "&Undo", shortcut=_KEYS.Undo, kind=Kind.UNDO),
    ActionSpec(_EDIT, "redo", "&Redo", shortcut=_KEYS.Redo, kind=Kind.REDO),
    ActionSpec(
        _EDIT,
        "find",
        "&Find…",
        "focus_search",
        shortcut=_KEYS.Find,
        enabled_when="open",
        separated=True,
    ),
    ActionSpec(
        _EDIT,
        "add_example",
        "Add E&xample",
        "editor_panel.add_example",
        shortcut="Ctrl+Shift+N",
        enabled_when="editable",
        separated=True,
    ),
    ActionSpec(
        _EDIT,
        "duplicate",
        "&Duplicate Example",
        "editor_panel.duplicate_selected",
        shortcut="Ctrl+D",
        enabled_when="selected",
    ),
    ActionSpec(
        _EDIT,
        "delete",
        "De&lete Example",
        "editor_panel.delete_selected",
        shortcut=_KEYS.Delete,
        enabled_when="selected",
    ),
    ActionSpec(
        _EDIT,
        "move_up",
        "Move Example &Up",
        "editor_panel.move_selected",
        args=(-1,),
        shortcut="Alt+Up",
        enabled_when="current",
    ),
    ActionSpec(
        _EDIT,
        "move_down",
        "Move Example Do&wn",
        "editor_panel.move_selected",
        args=(1,),
        shortcut="Alt+Down",
        enabled_when="current",
    ),
    ActionSpec(
        _EDIT,
        "add_message",
        "Add &Message",
        "editor_panel.editor.add_message",
        shortcut="Ctrl+Return",
        enabled_when="current",
        separated=True,
    ),
    ActionSpec(
        _EDIT,
        "settings",
        "Se&ttings…",
        "open_settings",
        shortcut=_KEYS.Preferences,
        fallback="Ctrl+,",
        separated=True,
    ),
    ActionSpec(
        _TOOLS,
        "set_system",
        "Set &System Message…",
        "bulk.set_system_message",
        tip="Give all or selected examples the same system message.",
        enabled_when="bulk_ready",
    ),
    ActionSpec(
        _TOOLS,
        "dedupe",
        "Remove &Duplicate Examples",
        "bulk.remove_duplicates",
        enabled_when="bulk_ready",
    ),
    ActionSpec(
        _TOOLS,
        "trim",
        "&Trim Surrounding Whitespace",
        "bulk.trim_whitespace",
        enabled_when="bulk_ready",
    ),
    ActionSpec(
        _TOOLS,
        "remove_blank",
        "Remove &Empty Lines",
        "bulk.remove_empty_lines",
        enabled_when="has_rows",
    ),
    ActionSpec(
        _TOOLS,
        "convert",
        "&Convert to Chat Examples…",
        "bulk.convert_legacy",
        enabled_when="legacy",
    ),
    ActionSpec(
        _TOOLS,
        "split",
        "S&plit into Training and Validation…",
        "exchange.split_dataset",
        tip="Save a training file and a validation file.",
        enabled_when="has_rows",
        separated=True,
    ),
    ActionSpec(
        _TOOLS,
        "train",
        "T&rain a Model on This Dataset…",
        "train_requested.emit",
        shortcut="Ctrl+T",
        tip="Upload the dataset to your provider and start a fine-tuning job.",
        separated=True,
    ),
    ActionSpec(_HELP, "about", f"&About {APP_NAME}", "show_about"),
)


class MainWindow(QMainWindow):
    """Top-level window: tabs for Dataset, Jobs and Chat; the dataset editor is the heart."""

    #: The provider settings dialog was closed: profiles or keys may have changed.
    providers_changed = Signal()
    #: The user asked to train a model on the open dataset.
    train_requested = Signal()

    def __init__(
        self,
        settings: AppSettings | None = None,
        settings_store: SettingsStore | None = None,
        catalog: Catalog | None = None,
        journal: RecoveryJournal | None = None,
        today: Callable[[], date] = date.today,
        settings_dialog: Callable[[QWidget], QDialog] | None = None,
        parent: QWidget | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(parent)
        self._settings_dialog = settings_dialog
        self.settings = settings if settings is not None else AppSettings()
        self.settings_store = settings_store
        self.catalog = catalog if catalog is not None else Catalog.load()
        model_id = self.settings.last_model
        if self.catalog.get(model_id) is None:
            model_id = self.catalog.models()[0].id
        self.document = DatasetDocument(self.catalog, model_id, self)
        self.document.analysis.set_epochs(self.settings.epochs)
        self._conversion_offered = False
        self.setAcceptDrops(True)
        self.setWindowIcon(app_icon())
        self.setMinimumSize(SMALLEST_WINDOW)
        fit_to_screen(self, QSize(1440, 900), SMALLEST_WINDOW)
        self._build_central(today)
        self._build_status_bar()
        self.actions, submenus = build_menus(self, ACTIONS, self.document.undo_stack)
        self.recent_menu = submenus["recent"]
        self.files = FileController(self, self.recent_menu, self.welcome)
        self.bulk = BulkController(self, clock)
        self.exchange = ExchangeController(self, self.files)
        self.recovery = RecoveryController(self, journal, self.files, self.recovery_bar, clock)
        self.files.refresh_recent_menu()
        self._connect()
        self._restore_layout()
        self.update_title()
        self.update_actions()
        self.show_welcome()

    # Building ------------------------------------------------------------------------------

    def _build_central(self, today: Callable[[], date]) -> None:
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.pages = QStackedWidget()
        self.welcome = WelcomePage()
        self.pages.addWidget(self.welcome)
        self.editor_panel = DatasetEditorPanel(self.document)
        self.findings_panel = FindingsPanel(self.document)
        self.estimator = EstimatorPanel(
            self.document, self.catalog, self.settings.format_money, today
        )
        self.estimator.select_epochs(self.settings.epochs)
        side = QSplitter(Qt.Orientation.Vertical)
        side.setChildrenCollapsible(False)
        side.addWidget(self._titled("Findings", self.findings_panel))
        # Scrolled when the column is short: squeezed, its wrapped warnings were cut off.
        self.estimator_scroll = scrolled(self.estimator)
        side.addWidget(self._titled("Cost estimate", self.estimator_scroll))
        side.setStretchFactor(0, 1)
        side.setStretchFactor(1, 2)
        side.setSizes([270, 540])
        self.side_splitter = side
        main = QSplitter(Qt.Orientation.Horizontal)
        main.setChildrenCollapsible(False)
        main.addWidget(self.editor_panel)
        main.addWidget(side)
        main.setStretchFactor(0, 4)
        main.setStretchFactor(1, 1)
        main.setSizes([1090, 350])
        self.main_splitter = main
        self.pages.addWidget(main)
        self.tabs.addTab(self.pages, "Dataset")
        for title, line in (
            (
                "Jobs",
                "Training jobs will appear here: start a fine-tune from your dataset and "
                "follow its progress.",
            ),
            ("Chat", "Chat with your fine-tuned models here once a training job has finished."),
        ):
            placeholder = QLabel(line)
            placeholder.setObjectName(f"placeholder_{title.lower()}")
            placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
            placeholder.setWordWrap(True)
            placeholder.setStyleSheet(f"color: {palette.MUTED}; font-size: 12pt; padding: 40px;")
            self.tabs.addTab(placeholder, title)
        self.recovery_bar = RecoveryBar()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.recovery_bar)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

    @staticmethod
    def _titled(title: str, widget: QWidget) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.setSpacing(0)
        label = QLabel(title)
        label.setStyleSheet("font-weight: 600; font-size: 11pt; padding: 2px 8px;")
        layout.addWidget(label)
        layout.addWidget(widget, 1)
        return box

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.progress_label = QLabel()
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolTip("Stop reading the file; the rows read so far stay open.")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.document.cancel_work)
        bar.addPermanentWidget(self.progress_label)
        bar.addPermanentWidget(self.progress)
        bar.addPermanentWidget(self.cancel_button)

    def _connect(self) -> None:
        document = self.document
        document.modified_changed.connect(lambda _m: self.update_title())
        document.path_changed.connect(lambda _p: self.update_title())
        document.failed.connect(self.show_error)
        document.analysis_progress.connect(self._on_analysis_progress)
        document.dataset_replaced.connect(self.update_actions)
        document.findings_changed.connect(self._on_findings_changed)
        document.dataset_replaced.connect(self._forget_conversion_offer)
        document.model_applied.connect(self._on_model_applied)
        self.editor_panel.selection_changed.connect(self.update_actions)
        self.editor_panel.editor.convert_requested.connect(self.bulk.convert_legacy)
        # Through a weak reference: a closure over the window, kept by one of its children,
        # would keep a deleted window's wrapper alive.
        window = weakref.ref(self)
        self.editor_panel.confirm_leave_unapplied = lambda problem: (
            (shown := window()) is None or shown.ask_leave_unapplied(problem)
        )
        self.editor_panel.editor.unapplied_dropped.connect(
            lambda text: self.statusBar().showMessage(text, 8000)
        )
        self.findings_panel.jump_requested.connect(self.jump_to)
        self.estimator.model_selected.connect(self.document.set_model)
        self.estimator.epochs_selected.connect(self._on_epochs_selected)
        self.estimator.train_requested.connect(self.train_requested)
        self.bulk.finished.connect(self.files.close_if_asked)

    def _forget_conversion_offer(self) -> None:
        self._conversion_offered = False

    # Settings and layout ---------------------------------------------------------------------

    def _restore_layout(self) -> None:
        settings = self.settings
        if settings.window_geometry:
            self.restoreGeometry(QByteArray.fromBase64(settings.window_geometry.encode()))
        if settings.window_state:
            self.restoreState(QByteArray.fromBase64(settings.window_state.encode()))
        for name, splitter in self._splitters().items():
            sizes = settings.splitter_sizes.get(name)
            if not sizes or len(sizes) != splitter.count() or any(s <= 0 for s in sizes):
                continue
            if name == "editor" and sizes[0] < self.editor_panel.comfortable_list_width():
                continue  # saved with the example list squashed: start from the default
            splitter.setSizes(sizes)

    def _splitters(self) -> dict[str, QSplitter]:
        return {
            "main": self.main_splitter,
            "side": self.side_splitter,
            "editor": self.editor_panel.splitter,
        }

    def save_settings(self) -> None:
        """Remember window layout, recent files and the estimator's choices."""
        settings = self.settings
        settings.window_geometry = bytes(self.saveGeometry().toBase64()).decode()
        settings.window_state = bytes(self.saveState().toBase64()).decode()
        settings.splitter_sizes = {
            name: list(splitter.sizes()) for name, splitter in self._splitters().items()
        }
        settings.last_model = self.document.model_id
        settings.epochs = self.document.analysis.epochs
        if self.settings_store is not None:
            try:
                self.settings_store.save(settings)
            except SaveError as exc:
                log.warning("Could not save settings: %s", exc)

    def _on_model_applied(self, model_id: str) -> None:
        """Show and remember the model the estimate really uses (a failed switch keeps the
        previous one)."""
        self.estimator.select_model(model_id)
        if self.settings.last_model != model_id:
            self.settings.last_model = model_id
            self.save_settings()

    def _on_epochs_selected(self, epochs: object) -> None:
        self.document.set_epochs(epochs if isinstance(epochs, int) else None)
        self.settings.epochs = epochs if isinstance(epochs, int) else None

    def open_settings(self) -> None:
        """Open the providers and keys settings (the app passes in how to build the dialog)."""
        if self._settings_dialog is None:
            self.show_info("Settings", "Provider settings are not available in this window.")
            return
        self.run_dialog(self._settings_dialog(self))
        self.providers_changed.emit()

    def show_about(self) -> None:
        """The version and the components the app ships with."""
        self.run_dialog(AboutDialog(self))

    # Tabs, pages and title ---------------------------------------------------------------

    def set_panel(self, title: str, panel: QWidget) -> None:
        """Put ``panel`` in the tab called ``title`` (Jobs, Chat), replacing its placeholder."""
        for index in range(self.tabs.count()):
            if self.tabs.tabText(index) == title:
                old = self.tabs.widget(index)
                self.tabs.removeTab(index)
                self.tabs.insertTab(index, panel, title)
                old.deleteLater()
                self._keep_pages_whole()
                return
        self.tabs.addTab(panel, title)
        self._keep_pages_whole()

    def _keep_pages_whole(self) -> None:
        """Never smaller than the tabs' pages can be laid out in: a window made smaller than
        that drew their widgets over one another."""
        self.setMinimumSize(self.minimumSizeHint().expandedTo(SMALLEST_WINDOW))

    def show_panel(self, title: str) -> None:
        """Bring the tab called ``title`` to the front."""
        for index in range(self.tabs.count()):
            if self.tabs.tabText(index) == title:
                self.tabs.setCurrentIndex(index)
                return

    def show_welcome(self) -> None:
        """Show the welcome page (no dataset open)."""
        self.pages.setCurrentIndex(PAGE_WELCOME)
        self.update_actions()

    def show_editor(self) -> None:
        """Show the dataset editor."""
        self.pages.setCurrentIndex(PAGE_EDITOR)
        self.tabs.setCurrentIndex(0)
        self.update_actions()

    @property
    def editor_visible(self) -> bool:
        """True when the editor (not the welcome page) is shown."""
        return self.pages.currentIndex() == PAGE_EDITOR

    def dataset_name(self) -> str:
        """What the open dataset is called (see ``FileController.dataset_name``)."""
        return self.files.dataset_name()

    def update_title(self) -> None:
        """Show the dataset's name and whether it has unsaved changes."""
        if self.editor_visible:
            self.setWindowTitle(f"{self.dataset_name()}[*] — {APP_NAME}")
        else:
            self.setWindowTitle(APP_NAME)
        self.setWindowModified(self.document.is_modified)

    def update_actions(self) -> None:
        """Enable the commands that can run now, and refresh the title."""
        open_ = self.editor_visible
        # While a file streams in, rows can be looked at but not changed.
        editable = open_ and not self.document.loading
        self.editor_panel.set_editable(editable)
        has_rows = editable and len(self.document.dataset) > 0
        state = {
            "open": open_,
            "editable": editable,
            "has_rows": has_rows,
            "bulk_ready": has_rows and not self.bulk_running,
            "selected": editable and self.editor_panel.table.selectionModel().hasSelection(),
            "current": editable and self.editor_panel.current_id() is not None,
            # The checks report every prompt/completion example, so this needs no scan.
            "legacy": open_ and "legacy_format" in self.document.finding_codes,
        }
        enable(self.actions, ACTIONS, state)
        self.update_title()

    # Status ------------------------------------------------------------------------------

    def _on_analysis_progress(self, done: int, total: int) -> None:
        if done >= total:
            self.progress.hide()
            self.progress_label.setText("")
            return
        self.progress.show()
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress_label.setText(f"Counting tokens… {done:,} of {total:,}")

    def _on_findings_changed(self) -> None:
        self.update_actions()
        if self.actions["convert"].isEnabled() and not self._conversion_offered:
            self._conversion_offered = True
            self.statusBar().showMessage(
                "Some examples use the older prompt/completion layout: use Tools › Convert to "
                "Chat Examples to train chat models.",
                15_000,
            )

    def focus_search(self) -> None:
        """Put the cursor in the search box (Ctrl+F)."""
        self.editor_panel.search.setFocus()
        self.editor_panel.search.selectAll()

    def jump_to(self, record_id: int, message_index: object = None) -> None:
        """Show a record (from the findings list)."""
        self.show_editor()
        index = message_index if isinstance(message_index, int) else None
        if not self.editor_panel.select_record(record_id, index):
            self.statusBar().showMessage("That example is no longer in the dataset.", 5000)

    # Questions (tests answer these by replacing the methods) -----------------------------

    def ask_save_changes(self) -> str:
        """Ask what to do with unsaved changes: 'save', 'discard' or 'cancel'."""
        return window_prompts.ask_save_changes(self, self.dataset_name())

    def ask_leave_unapplied(self, problem: str) -> bool:
        """JSON typed in the editor never became valid: True to go on without it."""
        return window_prompts.ask_leave_unapplied(self, problem)

    def ask_reload_or_keep(self) -> str:
        """The open file changed on disk: 'reload' it, or 'keep' the version in the app."""
        return window_prompts.ask_reload_or_keep(self, self.dataset_name())

    def ask_overwrite_changed(self) -> bool:
        """Before saving over a file another program changed: True to overwrite it."""
        return window_prompts.ask_overwrite_changed(self, self.dataset_name())

    def ask_replace_read_only(self, path: Path) -> bool:
        """Before replacing a file marked read-only: True to replace it all the same."""
        return window_prompts.ask_replace_read_only(self, path)

    def may_replace(self, path: Path) -> bool:
        """True when writing ``path`` may go ahead (a read-only file only if the user says so)."""
        return not is_read_only(path) or self.ask_replace_read_only(path)

    def ask_restore(self, entry: JournalEntry) -> str:
        """Unsaved work from an earlier run: 'restore', 'discard' or 'later'."""
        return window_prompts.ask_restore(self, entry)

    def ask_unrestorable(self, entry: JournalEntry, reason: str, salvageable: int) -> str:
        """Unsaved work that cannot be restored as a whole: 'save', 'discard' or 'keep'."""
        return window_prompts.ask_unrestorable(self, entry, reason, salvageable)

    def choose_open_path(self, title: str = "Open Dataset") -> Path | None:
        """Ask for a file to open."""
        return window_prompts.choose_open_path(self, title, self.files.start_folder())

    def choose_save_path(self, suggested: Path, title: str, file_filter: str) -> Path | None:
        """Ask where to save."""
        return window_prompts.choose_save_path(self, suggested, title, file_filter)

    def run_dialog(self, dialog: QDialog) -> bool:
        """Show a dialog; True when the user confirmed it."""
        return dialog.exec() == QDialog.DialogCode.Accepted

    def show_error(self, text: str) -> None:
        """Tell the user something went wrong, in one plain sentence."""
        self.statusBar().showMessage(text, 10_000)
        QMessageBox.warning(self, APP_NAME, text)

    def show_info(self, title: str, text: str) -> None:
        """Tell the user what happened (for example what a conversion dropped)."""
        QMessageBox.information(self, title, text)

    # Commands of the controllers, as the app and its tests call them ---------------------

    def start(self, path: Path | None = None) -> None:
        """Open the file asked for, if any, and offer earlier unsaved work."""
        self.recovery.start(path)

    def new_dataset(self) -> None:
        """Start an empty dataset."""
        self.files.new_dataset()

    def open_dialog(self) -> None:
        """Ask for a file and open it."""
        self.files.open_dialog()

    def open_path(self, path: Path, *, ask: bool = True) -> None:
        """Open ``path``; rows appear while it is read."""
        self.files.open_path(path, ask=ask)

    def open_sample(self) -> None:
        """Open a copy of the bundled sample."""
        self.files.open_sample()

    def save(self) -> bool:
        """Save to the open file (asks for a name when it needs one)."""
        return self.files.save()

    def save_as(self) -> bool:
        """Ask for a .jsonl name and save there."""
        return self.files.save_as()

    def close_dataset(self) -> bool:
        """Close the open dataset and show the welcome page."""
        return self.files.close_dataset()

    def import_path(self, path: Path, system: str | None = None, *, ask: bool = True) -> bool:
        """Convert ``path`` to chat examples and open the result as an unsaved dataset."""
        return self.exchange.import_path(path, system, ask=ask)

    def export_to(
        self,
        path: Path,
        fmt: ExportFormat,
        *,
        split: bool = False,
        percent: float = 10.0,
        seed: int = 42,
    ) -> list[Path]:
        """Write the examples in ``fmt`` (two files when ``split``); returns what was written."""
        return self.exchange.export_to(path, fmt, split=split, percent=percent, seed=seed)

    def split_dataset(self) -> list[Path]:
        """Save a training file and a validation file."""
        return self.exchange.split_dataset()

    def write_split(self, path: Path, percent: float, seed: int) -> list[Path]:
        """Write ``*-train.jsonl`` and ``*-validation.jsonl`` next to ``path``."""
        return self.exchange.write_split(path, percent, seed)

    def set_system_message(self) -> None:
        """Set or replace the system message of all or selected examples."""
        self.bulk.set_system_message()

    def trim_whitespace(self) -> None:
        """Strip spaces and blank lines around every message."""
        self.bulk.trim_whitespace()

    def remove_duplicates(self) -> None:
        """Remove examples that repeat an earlier one exactly."""
        self.bulk.remove_duplicates()

    def remove_empty_lines(self) -> int:
        """Remove blank lines; returns how many went."""
        return self.bulk.remove_empty_lines()

    def convert_legacy(self) -> int:
        """Convert prompt/completion examples to chat examples; returns how many."""
        return self.bulk.convert_legacy()

    @property
    def bulk_running(self) -> bool:
        """True while a bulk tool works out its change in the background (or waits to)."""
        return self.bulk.running

    @property
    def journal(self) -> RecoveryJournal | None:
        """Where unsaved work is kept against a crash."""
        return self.recovery.journal

    @property
    def session_id(self) -> str:
        """This window's entry in the recovery journal."""
        return self.recovery.session_id

    @property
    def autosaving(self) -> bool:
        """True while a recovery-journal write runs in the background."""
        return self.recovery.autosaving

    def autosave(self) -> bool:
        """Write unsaved edits to the recovery journal; False when no write could start."""
        return self.recovery.autosave()

    def autosave_tick(self) -> None:
        """Write the recovery journal if a write is due."""
        self.recovery.autosave_tick()

    def offer_recovery(self) -> bool:
        """Offer to bring back unsaved work; True when something was restored."""
        return self.recovery.offer_recovery()

    # Window events -----------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._keep_pages_whole()  # the pages are laid out (and polished) by now

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.files.may_close():
            event.ignore()
            return
        self.document.cancel_work()
        self.save_settings()
        self.recovery.shut_down()
        event.accept()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        self.files.drag_enter(event)

    def dropEvent(self, event: QDropEvent) -> None:
        self.files.drop(event)

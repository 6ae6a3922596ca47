"""Import and export: files in other layouts in, other formats and training/validation
pairs out, with whatever could not be carried across listed for the user."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from PySide6.QtCore import QObject

from desktop.core.bulk import split_train_validation
from desktop.core.dataset import Container, Dataset
from desktop.core.formats import (
    DatasetKind,
    DatasetReadError,
    detect_kind,
    plan_legacy_conversion,
    read_dataset_bytes,
)
from desktop.core.interchange import (
    ExportFormat,
    InterchangeError,
    export_split,
    export_values,
    import_foreign,
    imported_dataset,
    pair_paths,
)
from desktop.core.jsonl_io import SaveError, atomic_write
from desktop.core.wording import count
from desktop.ui.common.dialogs import ExportDialog, SplitDialog, SystemPromptDialog
from desktop.ui.window.files import FileController, with_ending
from desktop.ui.window.host import WindowHost
from desktop.ui.window.prompts import JSONL_FILTER


class ExchangeController(QObject):
    """Imports files as new datasets; exports and splits the open one."""

    def __init__(self, host: WindowHost, files: FileController) -> None:
        super().__init__(host.window())
        self._files = files

    @property
    def _host(self) -> WindowHost:
        # The window is this object's parent: holding it in an attribute as well would make
        # a reference cycle that keeps a deleted window's wrapper alive.
        return cast("WindowHost", self.parent())

    # Import ----------------------------------------------------------------------------------

    def import_dialog(self) -> None:
        """Import a file in another layout as a new, unsaved chat dataset."""
        if not self._files.maybe_save(retry=self.import_dialog):
            return
        path = self._host.choose_open_path("Import Examples")
        if path is not None:
            self.import_path(path)

    def import_path(self, path: Path, system: str | None = None, *, ask: bool = True) -> bool:
        """Convert ``path`` to chat examples and open the result as an unsaved dataset.

        Prompt/completion files, CSV and JSON arrays are read by the core formats; ShareGPT,
        Alpaca and Gemini files through interchange. Whatever could not be carried across is
        listed for the user afterwards.
        """
        host = self._host
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            host.show_error(f"{path.name} could not be read: {exc.strerror}.")
            return False
        try:
            dataset: Dataset | None = read_dataset_bytes(data, path.suffix)
        except (DatasetReadError, ValueError):
            dataset = None
        notes: list[str] = []
        if dataset is not None and detect_kind(dataset) is not DatasetKind.EMPTY:
            preview = plan_legacy_conversion(dataset)
            if preview.values and ask:
                dialog = SystemPromptDialog(
                    "Import examples",
                    f"{path.name} holds "
                    f"{count(len(preview.values), 'prompt/completion example')}; "
                    "they will become conversations.",
                    preview.notes,
                    host.window(),
                )
                if not host.run_dialog(dialog):
                    return False
                system = dialog.system()
            conversion = plan_legacy_conversion(dataset, system)
            for record_id, value in conversion.values.items():
                dataset.set_value(record_id, value)
            if conversion.values:
                notes.append(
                    f"Converted {count(len(conversion.values), 'prompt/completion example')} "
                    "to conversations."
                )
            notes += [f"Removed {note}." for note in conversion.notes]
        else:
            try:
                result = import_foreign(data, path.suffix, system)
            except InterchangeError as exc:
                host.show_error(str(exc))
                return False
            dataset = imported_dataset(data, result.values, result.failures)
            notes.append(
                f"Converted {count(len(result.values), 'example')} from {result.format.label}."
            )
            notes += result.dropped
            if result.failures:
                notes.append(
                    f"{count(len(result.failures), 'item')} could not be converted; "
                    f"{'it is' if len(result.failures) == 1 else 'they are'} shown as damaged "
                    "lines so you can repair or delete them."
                )
        dataset.container = Container.NEW
        # A name of its own: saving must never offer to overwrite the file it came from.
        self._files.adopt(
            dataset,
            None,
            modified=True,
            copy_name=f"{path.stem}-chat.jsonl",
            copy_folder=path.parent,
        )
        host.show_info("Import", "\n\n".join(notes))
        return True

    # Export ----------------------------------------------------------------------------------

    def _examples_to_export(self) -> tuple[list[Any], str | None]:
        """The examples' values, and the sentence saying which damaged lines stay out."""
        dataset = self._host.document.dataset
        return [r.value for r in dataset.examples()], _damaged_left_out(dataset)

    def export_dialog(self) -> None:
        """Export in another format, optionally as a training/validation pair."""
        host = self._host
        settings = host.settings
        dialog = ExportDialog(settings.validation_percent, settings.split_seed, host.window())
        if not host.run_dialog(dialog):
            return
        choice = dialog.choice()
        document_path = host.document.path
        suffix = choice.fmt.suffix
        unsaved = Path(self._files.start_folder()) / (self._files.copy_name or "dataset.jsonl")
        base = (document_path or unsaved).with_suffix(suffix)
        if document_path is not None:
            base = base.with_name(f"{base.stem}-{choice.fmt.value}{suffix}")
        chosen = host.choose_save_path(base, "Export", f"{choice.fmt.label} (*{suffix})")
        if chosen is None:
            return
        self.export_to(
            with_ending(chosen, suffix),
            choice.fmt,
            split=choice.split,
            percent=choice.percent,
            seed=choice.seed,
        )

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
        host = self._host
        values, left_out = self._examples_to_export()
        if split:
            train, validation = export_split(values, percent, seed, fmt)
            targets = pair_paths(path, fmt.suffix)
            outputs = list(zip(targets, (train, validation), strict=True))
        else:
            outputs = [(path, export_values(values, fmt))]
        if not all(host.may_replace(target) for target, _ in outputs):
            return []
        try:
            for target, result in outputs:
                atomic_write(target, result.data)
        except SaveError as exc:
            host.show_error(str(exc))
            return []
        lines = [
            f"Wrote {count(result.count, 'example')} to {target.name}."
            for target, result in outputs
        ]
        dropped = sorted({sentence for _, result in outputs for sentence in result.dropped})
        if left_out is not None:
            dropped.append(left_out)
        if dropped:
            lines.append("What this format could not keep:\n• " + "\n• ".join(dropped))
        host.show_info("Export", "\n\n".join(lines))
        return [target for target, _ in outputs]

    # Training and validation files -----------------------------------------------------------

    def split_dataset(self) -> list[Path]:
        """Save a training file and a validation file (OpenAI chat JSONL, lines kept as-is)."""
        host = self._host
        settings = host.settings
        examples = list(host.document.dataset.examples())
        dialog = SplitDialog(
            settings.validation_percent, settings.split_seed, len(examples), host.window()
        )
        if not host.run_dialog(dialog):
            return []
        choice = dialog.choice()
        settings.validation_percent = choice.percent
        settings.split_seed = choice.seed
        base = host.document.path or Path(self._files.start_folder()) / (
            self._files.copy_name or "dataset.jsonl"
        )
        chosen = host.choose_save_path(
            base.with_name(f"{base.stem}-train.jsonl"),
            "Save Training File As",
            JSONL_FILTER,
        )
        if chosen is None:
            return []
        return self.write_split(chosen, choice.percent, choice.seed)

    def write_split(self, path: Path, percent: float, seed: int) -> list[Path]:
        """Write ``*-train.jsonl`` and ``*-validation.jsonl`` next to ``path``."""
        host = self._host
        dataset = host.document.dataset
        examples = list(dataset.examples())
        train_ids, validation_ids = split_train_validation([r.id for r in examples], percent, seed)
        targets = pair_paths(path, ".jsonl")
        newline = dataset.newline
        if not all(host.may_replace(target) for target in targets):
            return []
        try:
            for target, ids in zip(targets, (train_ids, validation_ids), strict=True):
                data = b"".join(dataset.record(i).to_bytes() + newline for i in ids)
                atomic_write(target, data)
        except SaveError as exc:
            host.show_error(str(exc))
            return []
        left_out = _damaged_left_out(dataset)
        host.statusBar().showMessage(
            f"Saved {count(len(train_ids), 'training example')} to {targets[0].name} and "
            f"{count(len(validation_ids), 'validation example')} to {targets[1].name}."
            + (f" {left_out}" if left_out else ""),
            10_000,
        )
        host.save_settings()
        return list(targets)


def _damaged_left_out(dataset: Dataset) -> str | None:
    """The sentence saying how many damaged lines an export or a split leaves out."""
    damaged = sum(1 for r in dataset if not r.is_example and r.text.strip())
    if not damaged:
        return None
    return f"{count(damaged, 'damaged line')} {'was' if damaged == 1 else 'were'} left out."

"""The recovery journal rebuilds unsaved work exactly, cheaply, and even without the source."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.core.dataset import Container, Dataset, LineState, with_system_text, with_value
from desktop.core.formats import read_dataset
from desktop.core.journal import (
    JournalEntry,
    JournalError,
    RecoveryJournal,
    default_journal_folder,
    delete_files,
    new_session_id,
)
from desktop.core.jsonl_io import save_jsonl


def line(i: int, text: str = "") -> str:
    return json.dumps(
        {
            "messages": [
                {"role": "user", "content": f"q{i}{text}"},
                {"role": "assistant", "content": f"a{i}"},
            ]
        }
    )


def make_source(
    folder: Path, n: int = 5, *, newline: str = "\n", bom: bool = False, name="data.jsonl"
) -> Path:
    path = folder / name
    body = newline.join(line(i) for i in range(n)) + newline
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + body.encode())
    return path


@pytest.fixture
def journal(tmp_path) -> RecoveryJournal:
    return RecoveryJournal(tmp_path / "journal")


def only_entry(journal: RecoveryJournal) -> JournalEntry:
    (entry,) = journal.pending()
    return entry


def assert_same(restored: Dataset, dataset: Dataset) -> None:
    """Byte for byte, record for record, including which records are untouched."""
    assert restored.to_bytes() == dataset.to_bytes()
    assert (restored.bom, restored.newline, restored.container) == (
        dataset.bom,
        dataset.newline,
        dataset.container,
    )
    assert [(r.line, r.raw, r.eol, r.state, r.kind, r.error, r.edited_text) for r in restored] == [
        (r.line, r.raw, r.eol, r.state, r.kind, r.error, r.edited_text) for r in dataset
    ]
    assert [r.edited_value for r in restored] == [r.edited_value for r in dataset]


def test_an_edit_is_restored_exactly_and_the_rest_stays_untouched(journal, tmp_path):
    source = make_source(tmp_path)
    ds = read_dataset(source)
    ds.set_value(ds[2].id, json.loads(line(2, " edited")))
    assert journal.write("s1", ds, source)
    restored = journal.restore(only_entry(journal))
    assert_same(restored, ds)
    assert [r.is_untouched for r in restored] == [True, True, False, True, True]
    assert restored.is_modified


def test_a_system_text_kept_with_its_line_is_restored_as_the_example_it_reads_as(journal, tmp_path):
    source = make_source(tmp_path)
    ds = read_dataset(source)
    ds.put_many([with_system_text(r, "You are Bea.") for r in list(ds)[1:3]])
    assert journal.write("s1", ds, source)
    restored = journal.restore(only_entry(journal))
    assert restored.to_bytes() == ds.to_bytes()
    assert [r.value for r in restored] == [r.value for r in ds]
    assert [r.is_untouched for r in restored] == [True, False, False, True, True]
    assert restored[1].value["messages"][0] == {"role": "system", "content": "You are Bea."}


def test_inserts_removals_moves_and_repairs_are_restored(journal, tmp_path):
    source = make_source(tmp_path, 8, newline="\r\n", bom=True)
    ds = read_dataset(source)
    ds.append_value(json.loads(line(99)))
    ds.insert(0, ds.make_record({"not": "an example"}))
    ds.remove(ds[3].id)
    ds.move(ds[1].id, 6)
    ds.set_text(ds[4].id, '{"messages": [ {"role":"user", "content":"typed by hand"} ]}')
    ds.set_text(ds[5].id, "{still broken")
    assert journal.write("s1", ds, source)
    restored = journal.restore(only_entry(journal))
    assert_same(restored, ds)
    assert restored.bom == b"\xef\xbb\xbf" and restored.newline == b"\r\n"


def test_a_repaired_line_keeps_the_users_text_not_the_original(journal, tmp_path):
    """set_text leaves raw bytes on the record; they must not be mistaken for the source's."""
    source = make_source(tmp_path)
    ds = read_dataset(source)
    ds.set_text(ds[1].id, '{"messages":[]}')
    assert ds[1].raw is not None and ds[1].line == 2
    assert journal.write("s1", ds, source)
    assert journal.restore(only_entry(journal))[1].raw == b'{"messages":[]}'


def test_restore_works_after_the_source_was_deleted_or_changed(journal, tmp_path):
    source = make_source(tmp_path)
    ds = read_dataset(source)
    ds.remove(ds[0].id)
    assert journal.write("s1", ds, source)
    source.write_text("something else entirely\n")
    assert_same(journal.restore(only_entry(journal)), ds)
    source.unlink()
    assert_same(journal.restore(only_entry(journal)), ds)


def test_a_source_that_changed_before_the_first_write_is_still_handled(journal, tmp_path):
    source = make_source(tmp_path)
    ds = read_dataset(source)
    ds.set_value(ds[0].id, json.loads(line(0, "!")))
    make_source(tmp_path, 3)  # the file on disk now differs from what was read
    source.write_bytes(source.read_bytes().replace(b"q1", b"CHANGED"))
    assert journal.write("s1", ds, source)
    assert_same(journal.restore(only_entry(journal)), ds)


def test_a_new_dataset_keeps_its_content_in_the_journal(journal):
    ds = Dataset()
    ds.append_value(json.loads(line(1)))
    ds.append_value({"messages": [{"role": "user", "content": "x"}], "n": 10**30})
    ds.insert(1, ds.make_record("not an object"))
    assert journal.write("s1", ds, None)
    entry = only_entry(journal)
    assert entry.source_path is None
    assert_same(journal.restore(entry), ds)
    assert not (journal.folder / "sources").exists() or not any(
        (journal.folder / "sources").iterdir()
    )


def test_a_json_array_source_is_restored_and_only_edits_are_stored(journal, tmp_path):
    items = [json.loads(line(i)) for i in range(50)]
    source = tmp_path / "data.json"
    source.write_text(json.dumps(items, indent=2))
    ds = read_dataset(source)
    assert ds.container is Container.JSON_ARRAY
    ds.set_value(ds[10].id, json.loads(line(10, " edited")))
    ds.remove(ds[20].id)
    assert journal.write("s1", ds, source)
    entry = only_entry(journal)
    assert (entry.edited_count, entry.removed_count, entry.record_count) == (1, 1, 49)
    assert_same(journal.restore(entry), ds)
    assert entry.recipe_path.stat().st_size < 2000


def test_a_one_line_json_array_with_several_items_per_line(journal, tmp_path):
    source = tmp_path / "data.json"
    source.write_text(json.dumps([json.loads(line(i)) for i in range(6)]))
    ds = read_dataset(source)
    ds.remove(ds[1].id)
    ds.move(ds[0].id, 3)
    assert journal.write("s1", ds, source)
    assert_same(journal.restore(only_entry(journal)), ds)


def test_a_csv_source_is_restored(journal, tmp_path):
    source = tmp_path / "sheet.csv"
    source.write_text("prompt,completion,system\nHi,Hello,Be nice\nBye,See you,\n")
    ds = read_dataset(source)
    ds.set_value(ds[1].id, {"prompt": "Bye!", "completion": "Later"})
    assert journal.write("s1", ds, source)
    assert_same(journal.restore(only_entry(journal)), ds)


def test_a_100000_line_file_with_one_edit_needs_only_a_tiny_recipe(journal, tmp_path):
    source = make_source(tmp_path, 100_000)
    ds = read_dataset(source)
    ds.set_value(ds[50_000].id, json.loads(line(50_000, " edited")))
    started = time.perf_counter()
    assert journal.write("big", ds, source)
    first = time.perf_counter() - started
    ds.set_value(ds[70_000].id, json.loads(line(70_000, " edited")))
    started = time.perf_counter()
    assert journal.write("big", ds, source)
    later = time.perf_counter() - started
    entry = only_entry(journal)
    assert entry.recipe_path.stat().st_size < 2048
    assert (entry.edited_count, entry.removed_count, entry.record_count) == (2, 0, 100_000)
    (copy,) = (journal.folder / "sources").iterdir()
    assert copy.read_bytes() == source.read_bytes()
    assert later < 0.5, f"a later write took {later:.2f}s (first {first:.2f}s)"
    restored = journal.restore(entry)
    assert restored.to_bytes() == ds.to_bytes()
    assert sum(not r.is_untouched for r in restored) == 2


def test_pending_lists_other_sessions_newest_first_with_counts(journal, tmp_path):
    source = make_source(tmp_path)
    older = read_dataset(source)
    older.remove(older[0].id)
    older.remove(older[0].id)
    journal.write("older", older, source)
    newer = Dataset()
    newer.append_value(json.loads(line(1)))
    time.sleep(0.01)
    journal.write("newer", newer, None)
    entries = journal.pending()
    assert [e.session_id for e in entries] == ["newer", "older"]
    assert entries[0].written_at > entries[1].written_at
    assert entries[1].source_path == source
    assert (entries[1].edited_count, entries[1].removed_count, entries[1].record_count) == (0, 2, 3)
    assert (entries[0].edited_count, entries[0].removed_count, entries[0].record_count) == (1, 0, 1)
    assert [e.session_id for e in journal.pending(exclude_session="newer")] == ["older"]
    assert RecoveryJournal(journal.folder).pending() == entries


def test_an_unmodified_dataset_leaves_no_entry(journal, tmp_path):
    source = make_source(tmp_path)
    ds = read_dataset(source)
    assert journal.write("s1", ds, source)
    assert journal.pending() == []
    ds.remove(ds[0].id)
    journal.write("s1", ds, source)
    save_jsonl(ds, source)
    assert journal.write("s1", ds, source)
    assert journal.pending() == []


def test_clear_after_saving_and_the_next_edit_starts_from_the_saved_file(journal, tmp_path):
    source = make_source(tmp_path)
    ds = read_dataset(source)
    ds.set_value(ds[0].id, json.loads(line(0, "!")))
    journal.write("s1", ds, source)
    save_jsonl(ds, source)
    journal.clear("s1")
    assert journal.pending() == []
    assert list((journal.folder / "sources").iterdir()) == []
    ds.remove(ds[4].id)
    assert journal.write("s1", ds, source)
    assert_same(journal.restore(only_entry(journal)), ds)
    (copy,) = (journal.folder / "sources").iterdir()
    assert copy.read_bytes() == source.read_bytes()


def test_sessions_share_one_copy_of_the_same_source_until_the_last_is_discarded(journal, tmp_path):
    source = make_source(tmp_path)
    first, second = read_dataset(source), read_dataset(source)
    first.remove(first[0].id)
    second.remove(second[1].id)
    journal.write("a", first, source)
    journal.write("b", second, source)
    copies = journal.folder / "sources"
    assert len(list(copies.iterdir())) == 1
    entry_a = next(e for e in journal.pending() if e.session_id == "a")
    journal.discard(entry_a)
    assert [e.session_id for e in journal.pending()] == ["b"]
    assert len(list(copies.iterdir())) == 1
    journal.discard("b")
    assert journal.pending() == []
    assert list(copies.iterdir()) == []


def test_saving_as_another_file_moves_the_session_to_the_new_source(journal, tmp_path):
    source = make_source(tmp_path)
    ds = read_dataset(source)
    ds.remove(ds[0].id)
    journal.write("s1", ds, source)
    other = tmp_path / "copy.jsonl"
    save_jsonl(ds, other)
    ds.remove(ds[0].id)
    assert journal.write("s1", ds, other)
    entry = only_entry(journal)
    assert entry.source_path == other
    assert [p.read_bytes() for p in (journal.folder / "sources").iterdir()] == [other.read_bytes()]
    assert_same(journal.restore(entry), ds)


def test_disk_problems_are_reported_not_raised(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    journal = RecoveryJournal(blocker / "journal")
    ds = Dataset()
    ds.append_value(json.loads(line(1)))
    assert journal.write("s1", ds, None) is False
    assert journal.pending() == []
    journal.clear("s1")


def test_an_unreadable_source_falls_back_to_journalling_everything(journal, tmp_path):
    source = make_source(tmp_path)
    ds = read_dataset(source)
    ds.remove(ds[0].id)
    source.unlink()
    assert journal.write("s1", ds, source)
    entry = only_entry(journal)
    assert entry.edited_count == 4
    assert_same(journal.restore(entry), ds)


@pytest.mark.skipif(
    sys.platform == "win32" or os.geteuid() == 0, reason="needs POSIX modes, not root"
)
def test_a_read_only_journal_folder_returns_false(journal, tmp_path):
    journal.folder.mkdir()
    journal.folder.chmod(0o500)
    try:
        ds = Dataset()
        ds.append_value(json.loads(line(1)))
        assert journal.write("s1", ds, None) is False
    finally:
        journal.folder.chmod(0o700)


def test_a_damaged_journal_is_listed_and_restoring_it_says_why(journal, tmp_path):
    ds = Dataset()
    ds.append_value(json.loads(line(1)))
    journal.write("s1", ds, None)
    entry = only_entry(journal)
    entry.recipe_path.write_bytes(b'{"journal_format": 1, "records": [')
    damaged = only_entry(journal)
    assert damaged.damaged and damaged.session_id == "s1"
    with pytest.raises(JournalError, match="damaged"):
        journal.restore(damaged)
    entry.recipe_path.write_text(json.dumps({"journal_format": 1, "records": [{"line": 1}]}))
    with pytest.raises(JournalError, match="damaged"):
        journal.restore(only_entry(journal))
    journal.discard(damaged)
    assert journal.pending() == []


def test_without_its_copy_the_journal_builds_on_the_unchanged_original(journal, tmp_path):
    source = make_source(tmp_path)
    ds = read_dataset(source)
    ds.remove(ds[0].id)
    journal.write("s1", ds, source)
    (copy,) = (journal.folder / "sources").iterdir()
    copy.unlink()
    assert_same(journal.restore(only_entry(journal)), ds)


def test_a_missing_or_altered_source_copy_is_a_clear_error(journal, tmp_path):
    source = make_source(tmp_path)
    ds = read_dataset(source)
    ds.remove(ds[0].id)
    journal.write("s1", ds, source)
    source.write_bytes(source.read_bytes() + b"\n")  # the original changed since, too
    (copy,) = (journal.folder / "sources").iterdir()
    copy.write_bytes(copy.read_bytes() + b"\n")
    with pytest.raises(JournalError, match="damaged"):
        journal.restore(only_entry(journal))
    copy.unlink()
    with pytest.raises(JournalError, match="missing"):
        journal.restore(only_entry(journal))


def test_session_ids_must_be_safe_file_names(journal):
    ds = Dataset()
    for bad in ("", "../escape", "a/b", "x" * 65):
        with pytest.raises(ValueError, match="session id"):
            journal.write(bad, ds, None)
    assert len(new_session_id()) == 32
    assert new_session_id() != new_session_id()


def test_the_default_folder_is_under_the_data_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("FINETUNE_STUDIO_HOME", str(tmp_path))
    assert default_journal_folder() == tmp_path / "data" / "recovery"


# Random edit sequences ------------------------------------------------------------------------

SOURCE_LINES = [line(i) for i in range(6)] + ["", "{broken", '"just a string"']

edit = st.one_of(
    st.tuples(st.just("set_value"), st.integers(0, 50), st.text(max_size=5)),
    st.tuples(st.just("set_text"), st.integers(0, 50), st.sampled_from(["{", "{}", line(7), ""])),
    st.tuples(st.just("insert"), st.integers(0, 50), st.text(max_size=5)),
    st.tuples(st.just("remove"), st.integers(0, 50), st.none()),
    st.tuples(st.just("move"), st.integers(0, 50), st.integers(0, 50)),
    st.tuples(st.just("undo"), st.integers(0, 50), st.none()),
    st.tuples(st.just("write"), st.none(), st.none()),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(edit, max_size=14),
    newline=st.sampled_from(["\n", "\r\n"]),
    trailing=st.booleans(),
)
def test_any_edit_sequence_is_restored_exactly(ops, newline, trailing):
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        source = folder / "data.jsonl"
        source.write_bytes((newline.join(SOURCE_LINES) + (newline if trailing else "")).encode())
        ds = read_dataset(source)
        journal = RecoveryJournal(folder / "journal")
        undo = []
        for op, a, b in ops:
            position = a % len(ds) if a is not None and len(ds) else None
            if op == "write":
                assert journal.write("s", ds, source)
            elif op == "insert":
                ds.insert(a, ds.make_record({"messages": [{"role": "user", "content": b}]}))
            elif position is None:
                continue
            elif op == "set_value":
                undo.append(
                    ds.set_value(ds[position].id, {"messages": [{"role": "user", "content": b}]})
                )
            elif op == "set_text":
                undo.append(ds.set_text(ds[position].id, b))
            elif op == "remove":
                ds.remove(ds[position].id)
            elif op == "move":
                ds.move(ds[position].id, b)
            elif op == "undo" and undo:
                old = undo.pop()
                if any(r.id == old.id for r in ds):
                    ds.put(old)
        ds.insert(0, ds.make_record({"messages": []}))  # always something to recover
        assert journal.write("s", ds, source)
        restored = RecoveryJournal(folder / "journal").restore(only_entry(journal))
        assert_same(restored, ds)
        assert all(r.state is not LineState.BLANK or r.to_bytes() == b"" for r in restored)


@pytest.mark.parametrize("with_snapshot", [False, True])
def test_prepared_source_spares_the_first_write_from_reading_the_file(tmp_path, with_snapshot):
    source = tmp_path / "data.jsonl"
    lines = [json.dumps({"messages": [{"role": "user", "content": f"q{i}"}]}) for i in range(200)]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dataset = read_dataset(source)
    journal = RecoveryJournal(tmp_path / "journal")
    # With a snapshot of the records the matching is done here too (in the app: in a worker).
    prepared = journal.prepare_source(source, list(dataset) if with_snapshot else None)
    assert prepared is not None
    assert (prepared.known is not None) is with_snapshot
    source.unlink()  # the write must not need the file any more
    # Edits after the snapshot: a changed example, a removed one and a new one.
    dataset.set_value(dataset[5].id, {"messages": [{"role": "user", "content": "edited"}]})
    dataset.remove(dataset[9].id)
    dataset.insert(0, dataset.make_record({"messages": [{"role": "user", "content": "new"}]}))
    assert journal.write("s1", dataset, source, prepared)
    (entry,) = journal.pending()
    assert entry.edited_count == 2
    restored = journal.restore(entry)
    assert restored.to_bytes() == dataset.to_bytes()
    assert sum(r.raw is not None for r in restored) == 198


def test_a_snapshot_staged_in_the_background_restores_the_dataset_as_it_was_taken(
    journal, tmp_path
):
    source = make_source(tmp_path, 50)
    ds = read_dataset(source)
    for record in list(ds)[::2]:  # many edited records, as after a bulk edit
        ds.set_value(record.id, json.loads(line(record.line, " bulk")))
    expected = ds.to_bytes()
    snapshot = journal.snapshot("s1", ds, source)
    assert snapshot is not None
    ds.set_value(ds[1].id, json.loads(line(1, " later")))  # the app goes on while it is staged
    pauses = []
    staged = journal.stage(snapshot, lambda: pauses.append(1))
    # Once while the records are sorted into the recipe (50 at a time here), then per entry.
    assert len(pauses) == 1 + len(snapshot.recipe()["records"])
    assert journal.pending() == []  # nothing is published before the commit
    assert journal.commit(snapshot, staged)
    restored = journal.restore(only_entry(journal))
    assert restored.to_bytes() == expected
    # The later edit makes the dataset newer than what was written, so it is written again.
    assert journal.snapshot("s1", ds, source) is not None


def test_a_stage_told_to_stop_returns_nothing_and_leaves_no_file(journal, tmp_path):
    source = make_source(tmp_path, 50)
    ds = read_dataset(source)
    for record in ds:
        ds.set_value(record.id, json.loads(line(record.line, " edited")))
    snapshot = journal.snapshot("s1", ds, source)
    calls = []

    def pause() -> bool:
        calls.append(1)
        return len(calls) < 10  # stop after ten records

    assert journal.stage(snapshot, pause) is None
    assert len(calls) == 10
    assert journal.stage(snapshot, lambda: False) is None  # while sorting out the records
    assert [p.name for p in journal.folder.iterdir() if p.is_file()] == []
    assert journal.pending() == []


def test_preparing_a_source_told_to_stop_returns_nothing(journal, tmp_path):
    source = make_source(tmp_path, 50)
    calls = []

    def pause() -> bool:
        calls.append(1)
        return len(calls) < 20

    assert journal.prepare_source(source, list(read_dataset(source)), pause) is None
    assert len(calls) == 20


def test_temporary_files_left_by_a_crash_are_removed_but_not_one_being_written(journal, tmp_path):
    source = make_source(tmp_path)
    ds = read_dataset(source)
    ds.set_value(ds[0].id, json.loads(line(0, " edited")))
    assert journal.write("s1", ds, source)
    # Left by a write that a crash cut short a moment ago: nobody holds it any more.
    stale = journal.folder / ".s0.json.abc12345.tmp"
    stale_copy = journal.folder / "sources" / ".f00.source.xyz_6789.tmp"
    for temp in (stale, stale_copy):
        temp.write_bytes(b'{"half')
    # Another window is writing its entry right now (staged, not yet committed).
    other = read_dataset(source)
    other.set_value(other[1].id, json.loads(line(1, " edited elsewhere")))
    snapshot = journal.snapshot("s2", other, source)
    staged = journal.stage(snapshot)
    assert staged is not None and staged.temp.exists()
    assert len(journal.pending()) == 1
    assert not stale.exists()
    assert not stale_copy.exists()
    assert staged.temp.exists()
    assert journal.commit(snapshot, staged)
    assert len(journal.pending()) == 2


def test_a_discarded_stage_leaves_neither_entry_nor_temporary_file(journal, tmp_path):
    source = make_source(tmp_path)
    ds = read_dataset(source)
    ds.set_value(ds[0].id, json.loads(line(0, " edited")))
    snapshot = journal.snapshot("s1", ds, source)
    journal.stage(snapshot).discard()
    assert journal.pending() == []
    assert [p.name for p in journal.folder.iterdir() if p.is_file()] == []
    # Unchanged since the last commit: nothing to write; with nothing unsaved: the entry goes.
    assert journal.write("s1", ds, source)
    assert journal.snapshot("s1", ds, source) is None
    assert len(journal.pending()) == 1
    ds.mark_saved()
    assert journal.snapshot("s1", ds, source) is None
    assert journal.pending() == []


def test_after_a_save_the_journal_builds_on_the_saved_file(journal, tmp_path):
    source = make_source(tmp_path, 6)
    ds = read_dataset(source)
    prepared = journal.prepare_source(source, list(ds))
    ds.set_value(ds[1].id, json.loads(line(1, " edited before saving")))
    ds.append_value(json.loads(line(7)))
    ds.remove(ds[0].id)
    assert journal.write("s1", ds, source, prepared)
    save_jsonl(ds, source)
    journal.clear("s1")  # what a save does: the old entry and its copy of the file go
    assert list((journal.folder / "sources").iterdir()) == []
    prepared = journal.prepare_source(source, list(ds), saved=True)
    ds.set_value(ds[2].id, json.loads(line(3, " edited after saving")))
    assert journal.write("s1", ds, source, prepared)
    entry = only_entry(journal)
    assert (entry.edited_count, entry.removed_count) == (1, 0)  # only what is not saved
    restored = journal.restore(entry)
    # Saved records come back as the saved file's lines; the one edit since, as edited.
    assert restored.to_bytes() == ds.to_bytes()
    assert [r.value for r in restored] == [r.value for r in ds]
    assert [r.is_untouched for r in restored] == [True, True, False, True, True, True]
    # The recipe needs nothing but the copy of the saved file: the rest is one run of it.
    recipe = json.loads(entry.recipe_path.read_text())
    assert sum(isinstance(item, dict) for item in recipe["records"]) == 1


def test_a_journal_that_cannot_be_restored_gives_up_the_examples_it_holds(journal, tmp_path):
    source = make_source(tmp_path)
    ds = read_dataset(source)
    ds.set_value(ds[1].id, json.loads(line(1, " edited")))
    ds.append_value(json.loads(line(9)))
    assert journal.write("s1", ds, source)
    for copy in (journal.folder / "sources").iterdir():
        copy.unlink()
    source.write_text(line(0) + "\n")  # and the original changed since
    entry = only_entry(journal)
    with pytest.raises(JournalError, match="missing"):
        journal.restore(entry)
    assert journal.salvage(entry) == [ds[1].to_bytes(), ds[5].to_bytes()]
    kept = journal.set_aside(entry)
    assert kept is not None and kept.read_bytes() and kept.parent.name == "unrestorable"
    assert journal.pending() == []


def test_a_damaged_journal_gives_up_nothing_and_can_be_set_aside(journal, tmp_path):
    journal.folder.mkdir(parents=True)
    (journal.folder / "s1.json").write_bytes(b'{"journal_format": 1, "records": [')
    entry = only_entry(journal)
    assert entry.damaged
    assert journal.salvage(entry) == []
    assert journal.set_aside(entry) == journal.folder / "unrestorable" / "s1.json"
    assert journal.pending() == []


def test_tidying_source_copies_reads_only_the_start_of_each_journal_file(
    journal, tmp_path, monkeypatch
):
    from desktop.core import journal as journal_module

    source = make_source(tmp_path, 3000)
    ds = read_dataset(source)
    for record in list(ds)[:2000]:  # a large recipe: every example edited
        ds.put(with_value(record, {"messages": [{"role": "user", "content": "x" * 200}]}))
    assert journal.write("s1", ds, source)
    recipe = journal.folder / "s1.json"
    assert recipe.stat().st_size > 400_000
    parsed: list[int] = []
    real = journal_module.json.loads
    monkeypatch.setattr(
        journal_module.json, "loads", lambda data, *a, **k: parsed.append(len(data)) or real(data)
    )
    other = make_source(tmp_path, 2, name="other.jsonl")
    edited = read_dataset(other)
    edited.put(with_value(edited[0], {"messages": [{"role": "user", "content": "y"}]}))
    assert journal.write("s2", edited, other)  # a new copy: older ones are tidied
    monkeypatch.undo()
    assert parsed and max(parsed) < 70_000
    # The copy the first journal needs is kept.
    assert len(list((journal.folder / "sources").iterdir())) == 2
    (entry,) = [e for e in journal.pending() if e.session_id == "s1"]
    assert_same(journal.restore(entry), ds)


def test_a_prepared_source_hands_over_every_line_and_match_to_be_freed_elsewhere(tmp_path):
    # Dropped when a large dataset closes: freeing its 100,000 lines paused the window.
    source = make_source(tmp_path, 30)
    dataset = read_dataset(source)
    prepared = RecoveryJournal(tmp_path / "journal").prepare_source(source, list(dataset))
    assert prepared is not None and prepared.known is not None
    parts = prepared.contents()
    lines = [part for part in parts if isinstance(part, tuple) and isinstance(part[1], bytes)]
    assert [raw for _number, raw, _eol in lines] == source.read_bytes().splitlines()
    assert len(parts) == len(lines) + len(prepared.known)


def test_clearing_later_renames_the_files_away_and_the_next_opening_removes_leftovers(
    journal, tmp_path
):
    # Deleting the copy of a large file on closing it held the window for tens of ms: the app
    # renames the files away at once and deletes them in the background.
    source = make_source(tmp_path)
    ds = read_dataset(source)
    ds.set_value(ds[0].id, json.loads(line(0, "!")))
    assert journal.write("s1", ds, source)
    copies = journal.folder / "sources"
    renamed = journal.clear("s1", later=True)
    assert len(renamed) == 2 and all(path.exists() for path in renamed)
    assert list(journal.folder.glob("*.json")) == [] and list(copies.glob("*.source")) == []
    assert journal.write("s1", ds, source)  # the same session goes on; nothing of it is lost
    delete_files(renamed[:1])
    assert not renamed[0].exists()
    # What the background deletion never got to (the app stopped) goes at the next start.
    assert [entry.session_id for entry in RecoveryJournal(journal.folder).pending()] == ["s1"]
    assert not renamed[1].exists()
    assert_same(journal.restore(only_entry(journal)), ds)

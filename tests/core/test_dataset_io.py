"""Reading real-world files without losing a byte, and saving them back safely."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.core.dataset import (
    Container,
    Dataset,
    LineState,
    serialize_value,
    with_value,
)
from desktop.core.formats import (
    DatasetKind,
    DatasetReadError,
    detect_kind,
    plan_legacy_conversion,
    read_dataset,
    read_dataset_bytes,
)
from desktop.core.jsonl_io import (
    ReadCancelled,
    SaveError,
    atomic_write,
    read_jsonl_bytes,
    stage_write,
)
from desktop.core.kinds import ExampleKind

CHAT = b'{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"}]}'
PREF = (
    b'{"input":{"messages":[{"role":"user","content":"Hi"}]},'
    b'"preferred_output":[{"role":"assistant","content":"Hello!"}],'
    b'"non_preferred_output":[{"role":"assistant","content":"What?"}]}'
)


def test_plain_chat_jsonl_is_read_as_examples_with_lines_and_bytes():
    data = CHAT + b"\n" + CHAT.replace(b"Hi", b"Hey") + b"\n"
    ds = read_jsonl_bytes(data)
    assert [r.line for r in ds] == [1, 2]
    assert [r.raw for r in ds] == [CHAT, CHAT.replace(b"Hi", b"Hey")]
    assert all(r.state is LineState.EXAMPLE and r.kind is ExampleKind.CHAT for r in ds)
    assert detect_kind(ds) is DatasetKind.CHAT
    assert ds[0].value["messages"][1]["content"] == "Hello!"


@pytest.mark.parametrize(
    ("line", "kind", "layout"),
    [
        (CHAT, ExampleKind.CHAT, DatasetKind.CHAT),
        (PREF, ExampleKind.PREFERENCE, DatasetKind.PREFERENCE),
        (
            b'{"prompt":"a","completion":"b"}',
            ExampleKind.PROMPT_COMPLETION,
            DatasetKind.PROMPT_COMPLETION,
        ),
        (
            b'{"prompt":"a","response":"b"}',
            ExampleKind.PROMPT_RESPONSE,
            DatasetKind.PROMPT_RESPONSE,
        ),
        (
            b'{"messages":[{"role":"user","content":"x"}],"tools":[],"parallel_tool_calls":false}',
            ExampleKind.CHAT,
            DatasetKind.CHAT,
        ),
    ],
)
def test_every_jsonl_layout_is_detected(line, kind, layout):
    ds = read_dataset_bytes(line + b"\n" + line + b"\n")
    assert [r.kind for r in ds] == [kind, kind]
    assert detect_kind(ds) is layout
    assert ds.to_bytes() == line + b"\n" + line + b"\n"


def test_mixed_layouts_are_reported_as_mixed():
    ds = read_dataset_bytes(CHAT + b"\n" + PREF + b"\n")
    assert detect_kind(ds) is DatasetKind.MIXED


def test_empty_file_has_no_records():
    ds = read_dataset_bytes(b"")
    assert len(ds) == 0
    assert detect_kind(ds) is DatasetKind.EMPTY
    assert ds.to_bytes() == b""


DAMAGED_CASES = {
    "bom": b"\xef\xbb\xbf" + CHAT + b"\n" + CHAT + b"\n",
    "crlf": CHAT + b"\r\n" + CHAT + b"\r\n",
    "mixed_endings": CHAT + b"\r\n" + CHAT + b"\n" + CHAT,
    "blank_lines": b"\n" + CHAT + b"\n\n   \n" + CHAT + b"\n\n",
    "no_final_newline": CHAT + b"\n" + CHAT,
    "invalid_utf8": CHAT + b"\n" + b'{"messages":[{"role":"user","content":"caf\xe9"}]}\n',
    "truncated_last_line": CHAT + b"\n" + CHAT[: len(CHAT) // 2],
    "lone_cr_inside": CHAT + b"\r" + b"\n",
    "only_newlines": b"\n\n\n",
    "json_but_not_example": b"[1, 2, 3]\n" + CHAT + b"\n42\n" + b'{"foo": 1}\n',
    "nan_constant": b'{"messages":[{"role":"user","content":"x","weight":NaN}]}\n',
}


@pytest.mark.parametrize("name", sorted(DAMAGED_CASES))
def test_damaged_files_round_trip_byte_for_byte(name, tmp_path):
    data = DAMAGED_CASES[name]
    path = tmp_path / "data.jsonl"
    path.write_bytes(data)
    ds = read_dataset(path)
    assert ds.to_bytes() == data
    from desktop.core.jsonl_io import save_jsonl

    save_jsonl(ds, path)
    assert path.read_bytes() == data


def test_bom_is_kept_apart_from_the_first_record():
    ds = read_jsonl_bytes(DAMAGED_CASES["bom"])
    assert ds.bom == b"\xef\xbb\xbf"
    assert ds[0].raw == CHAT
    assert ds[0].is_example


def test_crlf_lines_keep_their_endings_and_new_lines_follow_the_file_style():
    ds = read_jsonl_bytes(DAMAGED_CASES["crlf"])
    assert [r.eol for r in ds] == [b"\r\n", b"\r\n"]
    ds.append_value({"messages": [{"role": "user", "content": "new"}]})
    assert ds.to_bytes().endswith(b'"new"}]}\r\n')


def test_blank_lines_are_kept_but_are_not_examples():
    ds = read_jsonl_bytes(DAMAGED_CASES["blank_lines"])
    states = [r.state for r in ds]
    assert states.count(LineState.BLANK) == 4
    assert len(list(ds.examples())) == 2


def test_missing_final_newline_gets_one_only_when_a_record_follows():
    ds = read_jsonl_bytes(DAMAGED_CASES["no_final_newline"])
    assert ds[-1].eol == b""
    ds.append_value({"messages": [{"role": "user", "content": "x"}]})
    out = ds.to_bytes()
    assert out.startswith(CHAT + b"\n" + CHAT + b"\n")
    assert out.endswith(b"\n")


def test_invalid_utf8_line_is_broken_with_a_reason_and_kept():
    ds = read_jsonl_bytes(DAMAGED_CASES["invalid_utf8"])
    broken = ds[1]
    assert broken.state is LineState.BROKEN
    assert "UTF-8" in broken.error
    assert broken.raw.endswith(b'caf\xe9"}]}')
    assert "caf\ufffd" in broken.text


def test_truncated_last_line_is_called_cut_off():
    ds = read_jsonl_bytes(DAMAGED_CASES["truncated_last_line"])
    assert ds[1].state is LineState.BROKEN
    assert "cut off" in ds[1].error


def test_json_that_is_not_an_example_is_broken_not_dropped():
    ds = read_jsonl_bytes(DAMAGED_CASES["json_but_not_example"])
    assert [r.state for r in ds] == [
        LineState.BROKEN,
        LineState.EXAMPLE,
        LineState.BROKEN,
        LineState.BROKEN,
    ]
    assert "JSON object" in ds[0].error
    assert 'no "messages"' in ds[3].error


def test_nan_is_not_json():
    ds = read_jsonl_bytes(DAMAGED_CASES["nan_constant"])
    assert ds[0].state is LineState.BROKEN
    assert "NaN" in ds[0].error


def test_a_five_megabyte_single_line_is_read_and_written_back():
    big = "é" * (5 * 1024 * 1024 // 2)
    line = json.dumps({"messages": [{"role": "user", "content": big}]}, ensure_ascii=False)
    data = line.encode() + b"\n"
    assert len(data) > 5 * 1024 * 1024
    ds = read_jsonl_bytes(data)
    assert ds[0].is_example
    assert ds[0].value["messages"][0]["content"] == big
    assert ds.to_bytes() == data


def test_unknown_fields_survive_an_edit():
    line = (
        b'{"id":"ex-1","messages":[{"role":"user","content":"a","x-note":"keep"}],"meta":{"k":1}}'
    )
    ds = read_jsonl_bytes(line + b"\n")
    value = ds[0].value
    value["messages"][0]["content"] = "b"
    ds.set_value(ds[0].id, value)
    saved = json.loads(ds.to_bytes())
    assert saved["id"] == "ex-1"
    assert saved["meta"] == {"k": 1}
    assert saved["messages"][0]["x-note"] == "keep"


def test_edited_records_are_compact_utf8_with_stable_key_order():
    ds = read_jsonl_bytes(
        b'{ "extra": 1, "messages": [ {"content": "caf\\u00e9", "role": "user"} ] }\n'
    )
    ds.set_value(ds[0].id, ds[0].value)
    assert ds.to_bytes() == '{"messages":[{"role":"user","content":"café"}],"extra":1}\n'.encode()


def test_only_edited_records_change_on_save():
    lines = [b'{"messages": [{"role": "user", "content": "%d"}]}' % i for i in range(5)]
    data = b"\n".join(lines) + b"\n"
    ds = read_jsonl_bytes(data)
    ds.set_value(ds[2].id, {"messages": [{"role": "user", "content": "two"}]})
    out = ds.to_bytes().split(b"\n")
    assert out[:2] == lines[:2]
    assert out[3:5] == lines[3:5]
    assert out[2] == b'{"messages":[{"role":"user","content":"two"}]}'


def test_record_ids_are_stable_across_edits_moves_and_removals():
    ds = read_jsonl_bytes(CHAT + b"\n" + PREF + b"\n" + CHAT + b"\n")
    first, second, third = (r.id for r in ds)
    ds.move(third, 0)
    assert [r.id for r in ds] == [third, first, second]
    ds.set_value(first, {"messages": [{"role": "user", "content": "edited"}]})
    assert ds.record(first).value["messages"][0]["content"] == "edited"
    ds.remove(second)
    new = ds.append_value({"messages": [{"role": "user", "content": "n"}]})
    assert new.id not in (first, second, third)
    assert ds.position(new.id) == 2
    with pytest.raises(KeyError):
        ds.record(second)
    # Many at once, as the UI matches a worker's results: None for one that is gone.
    assert ds.current([new.id, second, first, third]) == [
        ds.record(new.id),
        None,
        ds.record(first),
        ds.record(third),
    ]


def test_undo_by_putting_back_the_old_record_restores_the_original_bytes():
    data = b'{"messages":  [{"role":"user","content":"spaced"}]}\n'
    ds = read_jsonl_bytes(data)
    old = ds.set_value(ds[0].id, {"messages": [{"role": "user", "content": "new"}]})
    assert ds.is_modified
    ds.put(old)
    assert ds.to_bytes() == data


def test_removed_record_can_be_reinserted_where_it_was():
    ds = read_jsonl_bytes(CHAT + b"\n" + PREF + b"\n")
    data = ds.to_bytes()
    position, record = ds.remove(ds[0].id)
    ds.insert(position, record)
    assert ds.to_bytes() == data


def test_broken_line_can_be_repaired_in_place():
    ds = read_jsonl_bytes(CHAT + b"\n" + b'{"messages": [\n')
    broken = ds[1]
    assert broken.state is LineState.BROKEN
    ds.set_text(broken.id, '{"messages": [{"role": "user", "content": "fixed"}]}')
    repaired = ds.record(broken.id)
    assert repaired.is_example
    assert ds.to_bytes().endswith(b'{"messages": [{"role": "user", "content": "fixed"}]}\n')
    ds.set_text(broken.id, "still { broken")
    assert ds.record(broken.id).state is LineState.BROKEN


def test_listeners_hear_every_change_and_version_moves():
    ds = read_jsonl_bytes(CHAT + b"\n")
    heard = []
    ds.subscribe(heard.append)
    version = ds.version
    record = ds.append_value({"messages": []})
    ds.move(record.id, 0)
    ds.remove(record.id)
    assert [c.kind for c in heard] == ["insert", "move", "remove"]
    assert ds.version == version + 3
    ds.mark_saved()
    assert not ds.is_modified


def test_many_records_are_swapped_with_one_notification_and_swapped_back_exactly():
    original = b"".join(
        json.dumps({"messages": [{"role": "user", "content": f"q{i}"}]}).encode() + b"\r\n"
        for i in range(5)
    )
    ds = read_jsonl_bytes(original)
    heard = []
    ds.subscribe(heard.append)
    version = ds.version
    targets = [ds[3], ds[1]]
    new = [with_value(r, {"messages": [{"role": "user", "content": "bulk"}]}) for r in targets]
    assert [(n.id, n.line, n.eol) for n in new] == [(r.id, r.line, r.eol) for r in targets]
    old = ds.put_many(new)
    assert old == targets and all(a is b for a, b in zip(old, targets, strict=True))
    assert [(c.kind, c.record_ids) for c in heard] == [
        ("replace_many", (targets[0].id, targets[1].id))
    ]
    assert ds.version == version + 1
    assert [r.value["messages"][0]["content"] for r in ds] == ["q0", "bulk", "q2", "bulk", "q4"]
    assert ds.position(targets[0].id) == 3  # positions survive a bulk swap
    ds.put_many(old)
    assert ds.to_bytes() == original
    assert ds.put_many([]) == [] and len(heard) == 2  # nothing to swap: no notification


_EDITS = st.sampled_from(["append", "insert", "remove", "move", "swap all"])


@settings(max_examples=150, deadline=None)
@given(edits=st.lists(st.tuples(_EDITS, st.integers(0, 40)), max_size=40))
def test_every_record_is_found_where_it_sits_after_any_edits(edits):
    """Positions are looked up in an index kept through appends (a file being read)."""
    ds = Dataset()
    for edit, n in edits:
        value = {"messages": [{"role": "user", "content": f"q{n}"}]}
        if edit == "append":
            ds.insert(len(ds), ds.make_record(value))
        elif edit == "insert":
            ds.insert(n % (len(ds) + 1), ds.make_record(value))
        elif edit == "remove" and len(ds):
            ds.remove(ds[n % len(ds)].id)
        elif edit == "move" and len(ds):
            ds.move(ds[n % len(ds)].id, n)
        elif edit == "swap all":
            ds.put_many([with_value(r, value) for r in ds])
        if n % 2:  # sometimes the index is asked for between edits, sometimes not
            assert [ds.position(r.id) for r in ds] == list(range(len(ds)))
    assert [ds.position(r.id) for r in ds] == list(range(len(ds)))
    assert [ds.record(r.id) for r in ds] == list(ds)


@pytest.mark.parametrize("order", ["kept", "reversed"])
def test_every_record_swapped_at_once_keeps_its_place(order):
    """A bulk edit of all examples, and its undo, hand over every record at once."""
    original = b"".join(
        json.dumps({"messages": [{"role": "user", "content": f"q{i}"}]}).encode() + b"\n"
        for i in range(5)
    )
    ds = read_jsonl_bytes(original)
    records = list(ds)
    new = [
        with_value(r, {"messages": [{"role": "user", "content": f"n{i}"}]})
        for i, r in enumerate(records)
    ]
    given = new if order == "kept" else new[::-1]
    old = ds.put_many(given)
    assert all(
        a is b for a, b in zip(old, records if order == "kept" else records[::-1], strict=True)
    )
    assert all(a is b for a, b in zip(ds, new, strict=True))
    assert [ds.position(r.id) for r in records] == [0, 1, 2, 3, 4]
    given.append(records[0])  # the list handed over is the caller's: changing it changes nothing
    assert len(ds) == 5
    ds.put_many(records)
    assert ds.to_bytes() == original


@settings(max_examples=150, deadline=None)
@given(size=st.integers(0, 30), picks=st.sets(st.integers(0, 29)))
def test_many_records_removed_at_once_come_back_exactly_where_they_were(size, picks):
    original = b"".join(
        json.dumps({"messages": [{"role": "user", "content": f"q{i}"}]}).encode() + b"\n"
        for i in range(size)
    )
    ds = read_jsonl_bytes(original)
    order = [r.id for r in ds]
    chosen = [order[i] for i in sorted(picks) if i < size]
    heard = []
    ds.subscribe(heard.append)
    removed = ds.remove_many(reversed(chosen))
    assert [r.id for _, r in removed] == chosen  # in file order, whatever order was asked
    assert [r.id for r in ds] == [i for i in order if i not in chosen]
    ds.insert_many(reversed(removed))
    assert [r.id for r in ds] == order
    assert ds.to_bytes() == original
    assert [ds.position(i) for i in order] == list(range(size))
    kinds = [(c.kind, c.record_ids) for c in heard]
    assert kinds == (
        [("remove_many", tuple(chosen)), ("insert_many", tuple(chosen))] if chosen else []
    )


def test_values_that_are_not_examples_become_broken_records_that_keep_the_text():
    ds = Dataset()
    record = ds.append_value({"note": "not an example"})
    assert record.state is LineState.BROKEN
    assert json.loads(ds.to_bytes()) == {"note": "not an example"}


# Containers -----------------------------------------------------------------------------------


def test_json_array_items_become_records_numbered_by_their_line():
    data = (
        b'[\n  {"prompt": "a", "completion": "b"},\n  {"prompt": "c",\n'
        b'   "completion": "d"},\n  42\n]\n'
    )
    ds = read_dataset_bytes(data, ".json")
    assert ds.container is Container.JSON_ARRAY
    assert [r.line for r in ds] == [2, 3, 5]
    assert [r.state for r in ds] == [LineState.EXAMPLE, LineState.EXAMPLE, LineState.BROKEN]
    assert not ds.is_modified
    assert ds.to_bytes().splitlines()[0] == b'{"prompt":"a","completion":"b"}'


def test_json_array_of_chat_examples():
    data = b"[" + CHAT + b"," + CHAT + b"]"
    ds = read_dataset_bytes(data)
    assert detect_kind(ds) is DatasetKind.CHAT
    assert len(ds) == 2


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("prompt,completion", "completion"),
        ("Question,Answer", "completion"),
        ("prompt,response", "response"),
    ],
)
def test_csv_columns_become_legacy_records(header, key):
    data = (header + '\r\n"Hello, there",Hi\r\n"two\nlines",ok\r\n').encode()
    ds = read_dataset_bytes(data, ".csv")
    assert ds.container is Container.CSV
    assert [r.line for r in ds] == [2, 3]
    assert ds[0].value == {"prompt": "Hello, there", key: "Hi"}
    assert ds[1].value["prompt"] == "two\nlines"


def test_csv_is_sniffed_without_an_extension_and_accepts_windows_encoding():
    data = "question,answer\nCafé?,Oui\n".encode("cp1252")
    ds = read_dataset_bytes(data)
    assert ds.container is Container.CSV
    assert ds[0].value == {"prompt": "Café?", "completion": "Oui"}


def test_csv_without_known_columns_is_refused_plainly():
    with pytest.raises(DatasetReadError, match="prompt/completion"):
        read_dataset_bytes(b"a,b\n1,2\n", ".csv")


def test_unreadable_paths_raise_plain_errors(tmp_path):
    with pytest.raises(DatasetReadError, match="was not found"):
        read_dataset(tmp_path / "missing.jsonl")
    with pytest.raises(DatasetReadError, match="is a folder"):
        read_dataset(tmp_path)


# Legacy conversion ----------------------------------------------------------------------------


def test_legacy_conversion_makes_chat_examples_and_strips_old_markers():
    lines = [
        b'{"prompt":"Where is my order?\\n\\n###\\n\\n","completion":" It ships today. END","id":7}',
        b'{"prompt":"Refund?\\n\\n###\\n\\n","completion":" Yes, within 30 days. END"}',
    ]
    ds = read_jsonl_bytes(b"\n".join(lines) + b"\n")
    plan = plan_legacy_conversion(ds, system="You are a support agent.")
    assert plan.notes == [  # in words, no escapes such as '\n\n###\n\n'
        'the line "###" at the end of every prompt',
        "the space at the start of every completion",
        'the marker "END" at the end of every completion',
    ]
    first = plan.values[ds[0].id]
    assert first["messages"] == [
        {"role": "system", "content": "You are a support agent."},
        {"role": "user", "content": "Where is my order?"},
        {"role": "assistant", "content": "It ships today."},
    ]
    assert first["id"] == 7
    for record_id, value in plan.values.items():
        ds.set_value(record_id, value)
    assert detect_kind(ds) is DatasetKind.CHAT


@pytest.mark.parametrize(
    ("stop", "said"),
    [("\n", "the line break"), ("\n###", 'the line "###"'), (" END", 'the marker "END"')],
)
def test_a_stop_marker_is_named_as_a_reader_sees_it(stop, said):
    lines = [
        json.dumps({"prompt": "Q1\n\n", "completion": f"A1{stop}"}).encode(),
        json.dumps({"prompt": "Q2\n\n", "completion": f"A2{stop}"}).encode(),
    ]
    plan = plan_legacy_conversion(read_jsonl_bytes(b"\n".join(lines) + b"\n"))
    assert plan.notes == [
        "the empty line at the end of every prompt",
        f"{said} at the end of every completion",
    ]


def test_legacy_conversion_keeps_text_when_markers_are_not_shared():
    ds = read_jsonl_bytes(b'{"prompt":"a ->","response":"b"}\n{"prompt":"c","response":" d"}\n')
    plan = plan_legacy_conversion(ds)
    assert plan.notes == []
    assert plan.values[ds[0].id]["messages"] == [
        {"role": "user", "content": "a ->"},
        {"role": "assistant", "content": "b"},
    ]


def test_csv_system_column_wins_over_the_dataset_system_message():
    ds = read_dataset_bytes(b"prompt,completion,system\nq,a,Be brief\nq2,a2,\n", ".csv")
    plan = plan_legacy_conversion(ds, system="Default")
    assert plan.values[ds[0].id]["messages"][0] == {"role": "system", "content": "Be brief"}
    assert plan.values[ds[1].id]["messages"][0] == {"role": "system", "content": "Default"}


# Saving ---------------------------------------------------------------------------------------


def test_atomic_write_replaces_the_file_and_keeps_its_permissions(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"old\n")
    os.chmod(path, 0o640)
    atomic_write(path, b"new\n")
    assert path.read_bytes() == b"new\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["data.jsonl"]


def test_a_staged_write_whose_content_fails_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"old\n")

    def parts():
        yield b"half of it"
        raise RuntimeError("the producer gave up")

    with pytest.raises(RuntimeError):
        stage_write(path, parts())
    assert [p.name for p in tmp_path.iterdir()] == ["data.jsonl"]
    assert path.read_bytes() == b"old\n"


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root ignores modes")
def test_failed_save_explains_and_leaves_the_old_file(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "data.jsonl"
    path.write_bytes(b"old\n")
    os.chmod(folder, 0o500)
    try:
        with pytest.raises(SaveError, match="permission"):
            atomic_write(path, b"new\n")
        assert path.read_bytes() == b"old\n"
    finally:
        os.chmod(folder, 0o700)


def test_failed_rename_removes_the_temporary_file_and_keeps_the_target(tmp_path):
    target = tmp_path / "data.jsonl"
    target.mkdir()
    (target / "inside").write_bytes(b"keep")
    with pytest.raises(SaveError, match=r"Could not save data\.jsonl"):
        atomic_write(target, b"new\n")
    assert (target / "inside").read_bytes() == b"keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.jsonl"]


def test_failed_save_into_a_missing_folder_says_so(tmp_path):
    with pytest.raises(SaveError, match="Your changes are still open"):
        atomic_write(tmp_path / "gone" / "data.jsonl", b"x")


def test_read_can_be_cancelled_through_progress():
    data = (CHAT + b"\n") * 30000
    seen = []

    def progress(done: int, total: int) -> bool:
        seen.append(done)
        return False

    with pytest.raises(ReadCancelled):
        read_jsonl_bytes(data, progress)
    assert seen and seen[0] < len(data)


def test_serialize_value_handles_integers_beyond_64_bits():
    assert (
        serialize_value({"messages": [], "n": 2**70})
        == b'{"messages":[],"n":1180591620717411303424}'
    )


# Properties -----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_any_bytes_are_read_as_jsonl_without_raising_and_written_back_identically(data):
    ds = read_jsonl_bytes(data)
    assert ds.to_bytes() == data
    for record in ds:
        assert record.state in LineState
        if record.state is LineState.BROKEN:
            assert record.error


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.sampled_from(["", ".jsonl", ".json", ".csv", ".txt"]))
def test_any_bytes_with_any_extension_are_read_or_refused_plainly(data, suffix):
    try:
        ds = read_dataset_bytes(data, suffix)
    except DatasetReadError as exc:
        assert str(exc)
    else:
        for record in ds:
            assert record.state in LineState


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(json_values, max_size=6))
def test_any_json_lines_are_read_and_round_trip(values):
    data = b"\n".join(json.dumps(v).encode() for v in values)
    ds = read_dataset_bytes(data, ".jsonl")
    assert ds.to_bytes() == data
    assert len(ds) == sum(1 for _ in data.split(b"\n")) if data else len(ds) == 0


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_edited_values_serialize_to_the_same_json(value):
    ds = Dataset()
    record = ds.append_value(value)
    assert json.loads(ds.to_bytes()) == value
    assert record.state in (LineState.EXAMPLE, LineState.BROKEN)


def test_reading_a_path_and_saving_preserves_a_realistic_file(tmp_path):
    source = Path(__file__).parent.parent / "data" / "messy.jsonl"
    data = source.read_bytes()
    ds = read_dataset(source)
    target = tmp_path / "copy.jsonl"
    from desktop.core.jsonl_io import save_jsonl

    save_jsonl(ds, target)
    assert target.read_bytes() == data


@pytest.mark.parametrize(
    ("line", "words"),
    [
        (b'{"a": 1 "b": 2}', "a comma is missing between two items (column 9)"),
        (b'{"a" 1}', "a colon is missing"),
        (b'{"a": 1,}', "a field name must be in double quotes, or a comma is extra"),
        (b'{"a": 1} x', "more text after the end of the example"),
        (b'{"a": "x\ty"}', "raw line break or tab"),
    ],
)
def test_json_errors_are_explained_in_plain_words(line, words):
    ds = read_jsonl_bytes(line + b"\n")
    assert ds[0].state is LineState.BROKEN
    assert words in ds[0].error
    assert "Expecting" not in ds[0].error


# Pathological lines: each is a finding on its own line, never a failure of the file -----------

GOOD = CHAT + b"\n"


def nested(depth: int, text: bytes = b"") -> bytes:
    """A chat example whose extra field nests ``depth`` levels in all (the line's depth)."""
    inner = depth - 1  # the example object is the first level
    return b'{"messages":[],"x":' + b"[" * inner + b'"' + text + b'"' + b"]" * inner + b"}"


def call_at_depth(frames: int, function):
    """``function()`` called with about ``frames`` more frames on the Python stack."""
    if frames <= 0:
        return function()
    return call_at_depth(frames - 1, function)


def small_stack_thread(function, stack_size: int = 512 * 1024):
    """``function()`` run in a thread with a small stack (macOS gives Qt workers 512 KiB)."""
    import threading

    results: list = []
    old = threading.stack_size(stack_size)
    try:
        thread = threading.Thread(target=lambda: results.append(function()))
        thread.start()
        thread.join()
    finally:
        threading.stack_size(old)
    assert results, "the function raised in the thread"
    return results[0]


@pytest.mark.parametrize("depth", [255, 300, 985, 1000, 1023, 1024, 1025, 5000])
def test_a_deeply_nested_line_is_broken_on_its_own_and_the_file_round_trips(depth, tmp_path):
    from desktop.core.dataset import MAX_NESTING
    from desktop.core.jsonl_io import save_jsonl

    data = GOOD + nested(depth) + b"\n" + GOOD
    ds = read_jsonl_bytes(data)
    assert [r.state for r in ds] == [LineState.EXAMPLE, LineState.BROKEN, LineState.EXAMPLE]
    assert f"more than {MAX_NESTING} levels deep" in ds[1].error
    path = tmp_path / "deep.jsonl"
    save_jsonl(ds, path)
    assert path.read_bytes() == data


def test_the_deepest_allowed_line_is_an_example_that_edits_and_saves(tmp_path):
    from desktop.core.dataset import MAX_NESTING
    from desktop.core.jsonl_io import save_jsonl

    line = nested(MAX_NESTING)
    ds = read_jsonl_bytes(line + b"\n")
    assert ds[0].state is LineState.EXAMPLE
    value = ds[0].value
    value["messages"] = [{"role": "user", "content": "hi"}]
    ds.set_value(ds[0].id, value)
    save_jsonl(ds, tmp_path / "out.jsonl")
    assert json.loads((tmp_path / "out.jsonl").read_bytes()) == value


def test_orjson_writes_exactly_the_nesting_the_app_allows():
    """The nesting check leans on orjson refusing to write deeper than MAX_NESTING."""
    import orjson

    from desktop.core.dataset import MAX_NESTING

    orjson.dumps(json.loads(b"[" * MAX_NESTING + b"]" * MAX_NESTING))
    with pytest.raises(TypeError):
        orjson.dumps(json.loads(b"[" * (MAX_NESTING + 1) + b"]" * (MAX_NESTING + 1)))


@pytest.mark.parametrize("depth", [254, 255, 990, 1023])
@pytest.mark.parametrize("text", [b"", b"half \\ud83d", b"9" * 30], ids=["plain", "half", "big"])
def test_the_nesting_verdict_does_not_depend_on_the_call_stack(depth, text):
    """The standard library reads what orjson cannot (halves of characters, big numbers)."""
    import sys

    from desktop.core.analysis import analyze_record
    from desktop.core.tokens import counter_for_model

    counter = counter_for_model("gpt-4.1-mini")
    data = nested(depth, text) + b"\n" + b'{"messages":[{"role":"user","content":"hi"}]}\n'

    def verdict():
        ds = read_jsonl_bytes(data)
        results = [analyze_record(record, counter) for record in ds]
        return [
            (r.state, r.error, a.tokens, [f.text for f in a.findings])
            for r, a in zip(ds, results, strict=True)
        ]

    expected = verdict()
    assert expected[0][0] is (LineState.EXAMPLE if depth <= 254 else LineState.BROKEN)
    # Nearly all of the stack used already (a deep UI call chain), and a small worker stack.
    assert call_at_depth(sys.getrecursionlimit() - 200, verdict) == expected
    assert small_stack_thread(verdict) == expected


def test_a_deep_value_set_by_an_editor_becomes_a_broken_record_that_saves(tmp_path):
    from desktop.core.jsonl_io import save_jsonl

    ds = read_jsonl_bytes(GOOD)
    deep: list = []
    for _ in range(3000):
        deep = [deep]
    ds.set_value(ds[0].id, {"messages": [], "x": deep})
    assert ds[0].state is LineState.BROKEN
    assert "levels deep" in ds[0].error
    save_jsonl(ds, tmp_path / "out.jsonl")
    assert (tmp_path / "out.jsonl").read_bytes().count(b"[") == 1 + 3001  # messages, then x


@pytest.mark.parametrize("depth", [300, 1000])
def test_a_json_array_with_a_too_deep_item_opens_with_that_item_broken(depth):
    deep = b"[" * depth + b"]" * depth
    data = b"[\n" + CHAT + b",\n" + deep + b",\n" + CHAT + b"\n]"
    ds = read_dataset_bytes(data, ".json")
    assert ds.container is Container.JSON_ARRAY
    assert [r.line for r in ds] == [2, 3, 4]
    assert [r.state for r in ds] == [LineState.EXAMPLE, LineState.BROKEN, LineState.EXAMPLE]
    assert "levels deep" in ds[1].error
    # Saved as JSON Lines, each item stays on one line.
    assert len(ds.to_bytes().splitlines()) == 3


def test_a_json_array_item_with_a_number_too_large_is_broken_and_exact_numbers_stay():
    data = b'[\n  {"prompt": 1e400, "completion": "x"},\n  {"prompt": "\\ud83d",\n'
    data += b'   "completion": ' + b"9" * 30 + b"},\n  " + b"1" * 5000 + b"\n]"
    ds = read_dataset_bytes(data, ".json")
    assert ds.container is Container.JSON_ARRAY
    assert [r.line for r in ds] == [2, 3, 5]
    assert [r.state for r in ds] == [LineState.BROKEN, LineState.EXAMPLE, LineState.BROKEN]
    assert "too large" in ds[0].error
    assert ds[0].text == '{"prompt": 1e400, "completion": "x"}'
    assert ds[1].value == {"prompt": "\ud83d", "completion": int("9" * 30)}
    assert "5,000 digits" in ds[2].error


# Halves of characters (lone surrogates) -------------------------------------------------------

SURROGATE_LINE = (
    b'{"messages":[{"role":"user","content":"Nice \\ud83d"},'
    b'{"role":"assistant","content":"Thanks"}],"\\uD83D":1}'
)


def test_an_edited_example_holding_half_a_character_saves_with_the_escape_kept(tmp_path):
    from desktop.core.jsonl_io import save_jsonl

    data = GOOD + SURROGATE_LINE + b"\n" + GOOD
    ds = read_jsonl_bytes(data)
    assert ds[1].state is LineState.EXAMPLE
    value = ds[1].value
    assert value["messages"][0]["content"] == "Nice \ud83d"
    value["messages"][1]["content"] = "Thanks a lot"
    ds.set_value(ds[1].id, value)
    assert "\\ud83d" in ds[1].text
    path = tmp_path / "out.jsonl"
    save_jsonl(ds, path)
    saved = path.read_bytes()
    saved.decode("utf-8")  # the file is still UTF-8
    lines = saved.split(b"\n")
    assert lines[0] + b"\n" == GOOD and lines[2] + b"\n" == GOOD
    assert b'"Nice \\ud83d"' in lines[1] and b'"\\ud83d":1' in lines[1]
    assert read_jsonl_bytes(saved)[1].value == value


def test_text_typed_with_half_a_character_is_kept_as_an_escape():
    ds = read_jsonl_bytes(GOOD)
    ds.set_text(ds[0].id, '{"messages":[{"role":"user","content":"a\ud83d"}]}')
    assert ds[0].state is LineState.EXAMPLE
    assert ds[0].to_bytes() == b'{"messages":[{"role":"user","content":"a\\ud83d"}]}'
    assert ds[0].value["messages"][0]["content"] == "a\ud83d"


# Numbers --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        b"123456789012345678901234567890",
        b"18446744073709551616",
        b"-9223372036854775809",
        b"9" * 400,
        b"-" + b"7" * 4000,
    ],
)
def test_integers_beyond_64_bits_survive_an_edit_of_another_field(number, tmp_path):
    from desktop.core.jsonl_io import save_jsonl

    line = (
        b'{"messages":[{"role":"user","content":"hi"}],"n":' + number + b',"m":[' + number + b"]}"
    )
    ds = read_jsonl_bytes(GOOD + line + b"\n")
    assert ds[1].state is LineState.EXAMPLE
    value = ds[1].value
    assert value["n"] == int(number) and type(value["n"]) is int
    value["messages"][0]["content"] = "hello"
    ds.set_value(ds[1].id, value)
    path = tmp_path / "out.jsonl"
    save_jsonl(ds, path)
    saved = path.read_bytes().split(b"\n")[1]
    assert b'"n":' + number + b"," in saved and b'"m":[' + number + b"]" in saved


@pytest.mark.parametrize(
    ("number", "words"),
    [(b"1e400", "too large"), (b"-2.5E+999", "too large"), (b"1" * 5000, "5,000 digits")],
)
def test_numbers_too_large_to_keep_make_a_broken_line_that_says_so(number, words):
    data = GOOD + b'{"messages":[],"n":' + number + b"}\n"
    ds = read_jsonl_bytes(data)
    assert ds[1].state is LineState.BROKEN
    assert words in ds[1].error
    assert ds.to_bytes() == data


# Spreadsheet cells ----------------------------------------------------------------------------


def test_a_csv_cell_longer_than_the_default_field_limit_is_read():
    long_text = "word " * 60_000
    data = f'prompt,completion\n"{long_text}",short\nnext,row\n'.encode()
    ds = read_dataset_bytes(data, ".csv")
    assert [r.line for r in ds] == [2, 3]
    assert ds[0].value == {"prompt": long_text, "completion": "short"}
    assert ds[1].value == {"prompt": "next", "completion": "row"}


def test_a_csv_row_that_cannot_be_read_is_a_broken_line_and_the_rest_opens(monkeypatch):
    import csv

    # The module's default limit, kept as if raising it had not been possible.
    set_limit = csv.field_size_limit
    before = set_limit(131_072)
    monkeypatch.setattr(csv, "field_size_limit", lambda *limit: 131_072)
    data = f'prompt,completion\nfirst,one\n"{"x" * 200_000}",two\nthird,three\n'.encode()
    try:
        ds = read_dataset_bytes(data, ".csv")
    finally:
        set_limit(before)
    assert [r.line for r in ds] == [2, 3, 4]
    assert [r.state for r in ds] == [LineState.EXAMPLE, LineState.BROKEN, LineState.EXAMPLE]
    assert "cannot be read" in ds[1].error
    assert ds[1].text.startswith('"xxx') and ds[1].text.endswith(",two")


# Wording of read problems ---------------------------------------------------------------------

CUT_LINES = [
    b'{"messages":[{"role":"user","content":"caf\\u00e9 \\"q\\" 1"},'
    b'{"role":"assistant","content":"ok","weight":1,"x":[true,false,null,-1.5e+3,0,12]}]}',
    b'{"a": -0.25E-7, "b": [ {"c" : null} ] }',
]


@pytest.mark.parametrize("line", CUT_LINES)
def test_every_cut_off_line_is_said_to_be_cut_off_without_a_misleading_reason(line):
    for end in range(1, len(line)):
        ds = read_jsonl_bytes(GOOD + line[:end])
        error = ds[1].error
        assert ds[1].state is LineState.BROKEN
        assert "cut off" in error, (line[:end], error)
        assert "comma" not in error and "column" not in error


def test_old_mac_line_endings_are_named_with_what_to_do():
    from desktop.core.analysis import analyze_record
    from desktop.core.tokens import counter_for_model

    ds = read_jsonl_bytes(CHAT + b"\r" + CHAT + b"\r" + CHAT + b"\r")
    assert len(ds) == 1
    assert "old Mac line endings" in ds[0].error
    assert "more text after the end" not in ds[0].error
    (finding,) = analyze_record(ds[0], counter_for_model("gpt-4.1")).findings
    assert "line endings" in finding.fix


def test_a_byte_order_mark_in_the_middle_of_a_file_is_named_plainly():
    from desktop.core.analysis import analyze_record
    from desktop.core.tokens import counter_for_model

    ds = read_jsonl_bytes(GOOD + b"\xef\xbb\xbf" + GOOD)
    assert ds[1].state is LineState.BROKEN
    assert "byte-order mark" in ds[1].error
    assert "utf-8-sig" not in ds[1].error and "decode" not in ds[1].error
    (finding,) = analyze_record(ds[1], counter_for_model("gpt-4.1")).findings
    assert "invisible first character" in finding.fix


def test_a_nul_byte_is_named_plainly():
    ds = read_jsonl_bytes(b'{"messages":[{"role":"user","content":"a\x00b"}]}\n')
    assert "NUL character" in ds[0].error

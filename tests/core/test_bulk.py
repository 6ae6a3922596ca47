"""Bulk edits are plans the UI applies undoably; the split is seeded and stable."""

from __future__ import annotations

import copy
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.core.bulk import (
    plan_remove_duplicates,
    plan_set_system_message,
    plan_trim_whitespace,
    split_train_validation,
    system_message_changes,
)
from desktop.core.dataset import (
    Dataset,
    serialize_value,
    with_system_text,
    with_text,
    with_value,
)
from desktop.core.jsonl_io import read_jsonl_bytes


def chat(*turns):
    return {"messages": [{"role": r, "content": c} for r, c in turns]}


def dataset_of(*items) -> Dataset:
    """A dataset read from JSONL, so records are untouched; strings are raw lines."""
    text = "\n".join(i if isinstance(i, str) else json.dumps(i) for i in items) + "\n"
    return read_jsonl_bytes(text.encode())


PREF = {
    "input": {"messages": [{"role": "user", "content": "  Hi  "}]},
    "preferred_output": [{"role": "assistant", "content": " Hello! "}],
    "non_preferred_output": [{"role": "assistant", "content": "Go away\n"}],
}


# System message -------------------------------------------------------------------------------


def test_a_system_text_kept_with_its_line_reads_as_the_planned_edit():
    """``with_system_text`` keeps the line and the text; reading gives what the plan gives."""
    named = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "system", "content": "Old.", "name": "rules"},
            {"role": "assistant", "content": "Yo"},
        ],
        "extra": 1,
    }
    records = list(dataset_of(chat(("user", "Hi"), ("assistant", "Yo")), named))
    planned = plan_set_system_message(records, "You are Bea.")
    for record in records:
        new = with_system_text(record, "You are Bea.")
        assert new.raw is None and new.system_set is not None
        assert new.system_set.source is record.raw
        assert (new.id, new.line, new.eol, new.kind) == (
            record.id,
            record.line,
            record.eol,
            record.kind,
        )
        assert new.value == planned[record.id]
        assert new.value is not new.value  # a fresh one each time: nobody can change it
        assert new.to_bytes() == serialize_value(planned[record.id])
        assert new.text == new.to_bytes().decode()
        again = with_system_text(new, "Be brief.")
        assert again.system_set is not None and again.system_set.source is record.raw
        assert again.value == plan_set_system_message([record], "Be brief.")[record.id]
        # Any other edit holds what it was given, not the line.
        assert with_text(new, '{"a": 1}').system_set is None
        assert with_value(new, new.value).system_set is None
        assert with_value(new, new.value, kind=new.kind).system_set is None
    assert planned[records[1].id]["messages"][1] == {
        "role": "system",
        "content": "You are Bea.",
        "name": "rules",
    }


@pytest.mark.parametrize("text", ["You are Bea.", "Be kind.", ""])
@pytest.mark.parametrize(
    "options",
    [{}, {"only_replace_existing": True}, {"only_add_missing": True}],
    ids=["all", "replace", "add"],
)
def test_the_facts_tell_which_examples_the_plan_changes(text, options):
    """What a bulk edit decides without reading an example is what the plan decides."""
    from desktop.core.validation import example_facts

    parts = [{"type": "text", "text": "Be kind."}]
    records = list(
        dataset_of(
            chat(("user", "Hi"), ("assistant", "Yo")),
            chat(("system", "Be kind."), ("user", "Hi"), ("assistant", "Yo")),
            chat(("system", ""), ("user", "Hi")),
            chat(("user", "Hi"), ("system", "Late."), ("system", "Later.")),
            chat(("system", "You are Bea."), ("user", "Hi")),
            {"messages": [{"role": "system", "content": parts}, {"role": "user", "content": "Hi"}]},
            {"messages": [{"role": "system", "content": "Be kind.", "name": "rules"}]},
            PREF,
            {"prompt": "Hi", "completion": "Yo"},
            "{broken",
        )
    )
    planned = plan_set_system_message(records, text, **options)
    told = {}
    for record in records:
        facts = example_facts(record.value, line=record.line, record_id=record.id)
        told[record.id] = system_message_changes(facts, text, **options)
    assert told == {r.id: None if told[r.id] is None else r.id in planned for r in records}
    # The chat examples whose system message, if any, is one string are all told about.
    assert [told[r.id] is not None for r in records] == [bool(text)] * 5 + [False] + [
        bool(text)
    ] + [False] * 3
    assert system_message_changes(None, text, **options) is None


def test_only_a_plain_chat_line_keeps_a_system_text_with_it():
    edited = with_value(next(iter(dataset_of(chat(("user", "Hi"))))), chat(("user", "Yo")))
    huge = '{"messages": [{"role": "user", "content": "Hi"}], "n": 18446744073709551616}'
    legacy = {"prompt": "Hi", "completion": "Yo"}
    for record in (edited, *dataset_of(huge, legacy, "{broken")):
        with pytest.raises(ValueError):
            with_system_text(record, "You are Bea.")


def test_system_message_is_replaced_in_place_or_added_at_the_start():
    ds = dataset_of(
        {
            "messages": [
                {"role": "system", "content": "Old", "name": "x"},
                {"role": "user", "content": "Hi"},
            ]
        },
        chat(("user", "Hi"), ("assistant", "Yo")),
        chat(("system", "New"), ("user", "Hi")),
    )
    plan = plan_set_system_message(ds, "New")
    first, second, third = (r.id for r in ds)
    assert set(plan) == {first, second}
    assert plan[first]["messages"][0] == {"role": "system", "content": "New", "name": "x"}
    assert plan[second]["messages"] == [
        {"role": "system", "content": "New"},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Yo"},
    ]
    assert third not in plan


def test_only_the_first_system_message_is_replaced():
    ds = dataset_of(chat(("system", "A"), ("user", "Hi"), ("system", "B")))
    (new,) = plan_set_system_message(ds, "C").values()
    assert [m["content"] for m in new["messages"]] == ["C", "Hi", "B"]


def test_empty_text_removes_every_system_message():
    ds = dataset_of(
        chat(("system", "A"), ("user", "Hi"), ("system", "B")),
        chat(("user", "Hi")),
    )
    plan = plan_set_system_message(ds, "")
    assert list(plan.values()) == [chat(("user", "Hi"))]


def test_only_replace_existing_and_only_add_missing_pick_their_examples():
    ds = dataset_of(chat(("system", "A"), ("user", "Hi")), chat(("user", "Hi")))
    with_system, without = (r.id for r in ds)
    assert set(plan_set_system_message(ds, "S", only_replace_existing=True)) == {with_system}
    assert set(plan_set_system_message(ds, "S", only_add_missing=True)) == {without}
    assert plan_set_system_message(ds, "", only_add_missing=True) == {}
    with pytest.raises(ValueError, match="at most one"):
        plan_set_system_message(ds, "S", only_replace_existing=True, only_add_missing=True)


def test_system_message_reaches_preference_prompts_and_skips_other_kinds():
    ds = dataset_of(PREF, {"prompt": "a", "completion": "b"}, "{broken", "")
    plan = plan_set_system_message(ds, "S")
    assert list(plan) == [ds[0].id]
    new = plan[ds[0].id]
    assert new["input"]["messages"][0] == {"role": "system", "content": "S"}
    assert new["preferred_output"] == PREF["preferred_output"]


def test_plans_never_modify_the_values_held_by_edited_records():
    ds = Dataset()
    record = ds.append_value(chat(("system", " A "), ("user", " Hi ")))
    before = copy.deepcopy(record.edited_value)
    plan_set_system_message(ds, "B")
    plan_set_system_message(ds, "")
    plan_trim_whitespace(ds)
    assert record.edited_value == before


def test_applying_a_plan_and_undoing_it_restores_the_original_bytes():
    ds = dataset_of(chat(("user", "Hi")), chat(("system", "Old"), ("user", "Yo")))
    original = ds.to_bytes()
    undo = [ds.set_value(rid, value) for rid, value in plan_set_system_message(ds, "New").items()]
    assert all(r.value["messages"][0] == {"role": "system", "content": "New"} for r in ds)
    for old in undo:
        ds.put(old)
    assert ds.to_bytes() == original
    assert all(r.is_untouched for r in ds)


# Duplicates -----------------------------------------------------------------------------------


def test_duplicates_ignore_key_order_and_spacing_and_keep_the_first():
    ds = dataset_of(
        '{"messages":[{"role":"user","content":"Hi"}]}',
        '{"messages": [{"content": "Hi", "role": "user"}]}',
        '{"messages":[{"role":"user","content":"Hey"}]}',
        '{ "messages" : [ { "role" : "user" , "content" : "Hi" } ] }',
        "{broken",
        "{broken",
        "",
        "",
    )
    ids = [r.id for r in ds]
    assert plan_remove_duplicates(ds) == [ids[1], ids[3]]


def test_values_that_differ_are_not_duplicates():
    ds = dataset_of(
        chat(("user", "Hi")),
        chat(
            ("user", "Hi "),
        ),
        {"messages": [{"role": "user", "content": "Hi"}], "weight": 1},
        {"prompt": "Hi", "completion": "x"},
        {"prompt": "Hi", "completion": "x"},
    )
    assert plan_remove_duplicates(ds) == [ds[4].id]


def test_duplicates_work_with_integers_beyond_64_bits():
    big = '{"messages":[{"role":"user","content":"Hi"}],"n":123456789012345678901234567890}'
    ds = dataset_of(big, big.replace('"n"', ' "n"'))
    assert plan_remove_duplicates(ds) == [ds[1].id]


# Whitespace -----------------------------------------------------------------------------------


def test_trim_strips_contents_and_text_parts_and_lists_only_changes():
    parts = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "  Look\n"},
                    {"type": "image_url", "image_url": {"url": " https://x/a.png "}},
                ],
            },
            {"role": "assistant", "content": None, "tool_calls": []},
        ]
    }
    ds = dataset_of(chat(("user", " Hi\t"), ("assistant", "\nYo ")), chat(("user", "Clean")), parts)
    plan = plan_trim_whitespace(ds)
    assert set(plan) == {ds[0].id, ds[2].id}
    assert plan[ds[0].id] == chat(("user", "Hi"), ("assistant", "Yo"))
    content = plan[ds[2].id]["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "Look"}
    assert content[1]["image_url"]["url"] == " https://x/a.png "
    assert plan[ds[2].id]["messages"][1] == {"role": "assistant", "content": None, "tool_calls": []}


def test_trim_covers_preference_prompts_and_both_replies():
    ds = dataset_of(PREF, {"prompt": " a ", "completion": " b"})
    plan = plan_trim_whitespace(ds)
    assert list(plan) == [ds[0].id]
    new = plan[ds[0].id]
    assert new["input"]["messages"][0]["content"] == "Hi"
    assert new["preferred_output"][0]["content"] == "Hello!"
    assert new["non_preferred_output"][0]["content"] == "Go away"


# Split ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "percent", "validation"),
    [
        (100, 10, 10),
        (25, 10, 2),  # round(2.5) is 2: Python rounds halves to even
        (35, 10, 4),
        (5, 10, 1),  # at least one once there are two examples
        (2, 1, 1),
        (1, 50, 0),
        (0, 10, 0),
        (10, 0, 0),
        (10, 100, 9),  # training always keeps one
    ],
)
def test_split_sizes(n, percent, validation):
    train, valid = split_train_validation(list(range(n)), percent, 42)
    assert len(valid) == validation
    assert len(train) == n - validation


def test_split_is_pinned_so_it_is_the_same_on_every_run_and_platform():
    ids = list(range(100, 120))
    assert split_train_validation(ids, 20, 42) == split_train_validation(ids, 20, 42)
    # The exact result is pinned: if it ever changes, users' validation sets change too.
    assert split_train_validation(ids, 20, 42)[1] == [100, 103, 107, 108]


def test_different_seeds_give_different_splits():
    ids = list(range(50))
    assert split_train_validation(ids, 20, 1)[1] != split_train_validation(ids, 20, 2)[1]


@pytest.mark.parametrize("percent", [-1, 100.5, float("nan")])
def test_split_refuses_impossible_shares(percent):
    with pytest.raises(ValueError, match="between 0 and 100"):
        split_train_validation([1, 2, 3], percent, 1)


@settings(max_examples=100, deadline=None)
@given(
    ids=st.lists(st.integers(), unique=True, max_size=60),
    percent=st.floats(0, 100),
    seed=st.integers(0, 2**32),
)
def test_split_parts_keep_order_and_cover_every_id_once(ids, percent, seed):
    shuffled = random.Random(seed).sample(ids, len(ids))
    train, validation = split_train_validation(shuffled, percent, seed)
    assert sorted(train + validation) == sorted(shuffled)
    position = {rid: i for i, rid in enumerate(shuffled)}
    assert [position[r] for r in train] == sorted(position[r] for r in train)
    assert [position[r] for r in validation] == sorted(position[r] for r in validation)
    if len(ids) >= 2 and percent > 0:
        assert 1 <= len(validation) <= len(ids) - 1


def test_duplicates_holding_halves_of_characters_or_huge_numbers_are_found():
    line = (
        '{"messages":[{"role":"user","content":"hi \\ud83d"}],"n":123456789012345678901234567890}'
    )
    ds = dataset_of(line, line, line.replace("hi", "yo"))
    assert plan_remove_duplicates(ds) == [ds[1].id]

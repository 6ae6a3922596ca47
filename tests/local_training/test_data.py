"""Chat examples become token ids with a mask of what is learnt: the assistant replies and
their end-of-turn marker, never a reply marked ``weight: 0`` nor the rest of the prompt."""

from __future__ import annotations

import pytest

from desktop.local_training.data import DataError, chat_rows, preference_rows, tokenize_chat

pytestmark = pytest.mark.local_training


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


def learnt_text(tokenizer, row) -> str:
    ids = [i for i, keep in zip(row["input_ids"], row["assistant_masks"], strict=True) if keep]
    return tokenizer.decode(ids)


def test_only_the_replies_and_their_end_markers_are_learnt(tokenizer):
    example = {
        "messages": [
            {"role": "system", "content": "You add numbers."},
            {"role": "user", "content": "What is 1 plus 1?"},
            {"role": "assistant", "content": "It is 2."},
            {"role": "user", "content": "What is 2 plus 2?"},
            {"role": "assistant", "content": "It is 4."},
        ]
    }
    row = tokenize_chat(tokenizer, example, 512)
    assert learnt_text(tokenizer, row) == "It is 2.<|im_end|>\nIt is 4.<|im_end|>\n"


def test_a_reply_with_weight_0_is_not_learnt(tokenizer):
    example = {
        "messages": [
            {"role": "user", "content": "What is 1 plus 1?"},
            {"role": "assistant", "content": "It is 3.", "weight": 0},
            {"role": "user", "content": "Are you sure?"},
            {"role": "assistant", "content": "It is 2.", "weight": 1},
        ]
    }
    row = tokenize_chat(tokenizer, example, 512)
    assert learnt_text(tokenizer, row) == "It is 2.<|im_end|>\n"
    only_zero = {"messages": example["messages"][:2]}
    with pytest.raises(DataError, match="every reply has weight 0"):
        tokenize_chat(tokenizer, only_zero, 512)


def test_unusable_examples_are_left_out_and_said(tokenizer):
    converted = chat_rows(
        tokenizer,
        [
            (
                1,
                {
                    "messages": [
                        {"role": "user", "content": "hi"},
                        {"role": "assistant", "content": "yo"},
                    ]
                },
            ),
            (2, None),
            (3, {"prompt": "old", "completion": "style"}),
            (4, {"messages": [{"role": "user", "content": "hi"}]}),
        ],
        512,
    )
    assert len(converted.rows) == 1
    assert converted.summary("training data") == (
        "3 examples of the training data were left out (Line 2: it is not a readable JSON object; "
        "Line 3: it is not a chat example (it has no messages); Line 4: it has no assistant reply "
        "to learn from (or every reply has weight 0))."
    )


def test_preference_pairs_become_prompt_chosen_and_rejected():
    converted = preference_rows(
        [
            (
                1,
                {
                    "input": {"messages": [{"role": "user", "content": "Hi"}]},
                    "preferred_output": [{"role": "assistant", "content": "Hello!"}],
                    "non_preferred_output": [{"role": "assistant", "content": "What."}],
                },
            )
        ]
    )
    assert converted.rows == [
        {
            "prompt": [{"role": "user", "content": "Hi"}],
            "chosen": [{"role": "assistant", "content": "Hello!"}],
            "rejected": [{"role": "assistant", "content": "What."}],
        }
    ]

"""``text_array``'s whole-text escaping gives the literal that quoting each element gives."""

from __future__ import annotations

import random

from services.processing.adapters.literals import text_array


def quoted_one_by_one(values: list[str | None]) -> str:
    """The literal as ``text_array`` wrote it for any text with a quote before issue #16's fast path."""

    def quoted(value: str | None) -> str:
        if value is None:
            return "NULL"
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "{" + ",".join(map(quoted, values)) + "}"


def test_random_texts_with_quotes_and_backslashes() -> None:
    rng = random.Random(16)
    pieces = [
        '"',
        "\\",
        "{",
        "}",
        ",",
        " ",
        "NULL",
        "null",
        "đệ",
        "tiếng Việt",
        "\t",
        "\n",
        "a",
        '\\"',
        '{"k": 1}',
    ]
    for _ in range(2_000):
        values: list[str | None] = [
            "".join(rng.choice(pieces) for _ in range(rng.randrange(8))) for _ in range(rng.randrange(1, 12))
        ]
        if rng.random() < 0.2:  # a NULL among them
            values[rng.randrange(len(values))] = None
        assert text_array(values) == quoted_one_by_one(values)
        assert text_array(tuple(values)) == quoted_one_by_one(values)


def test_json_bodies() -> None:
    bodies: list[str | None] = ['{"a": "b \\"c\\""}', '{"x": [1, 2], "y": null}', "{}", ""]
    assert text_array(bodies) == quoted_one_by_one(bodies)


def test_a_nul_inside_a_text_is_not_taken_for_a_separator() -> None:
    values: list[str | None] = ['a"\x00b', "c"]
    assert text_array(values) == quoted_one_by_one(
        values
    )  # two elements, as before (the server refuses the NUL)

"""The XES reader streams: its memory does not grow with the number of events (a property, not a timing)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.replay.adapters.xes import UnreadableLog, read_xes

EVENTS_PER_CASE = 10


def write_log(path: Path, cases: int) -> int:
    """An XES log of ``cases`` cases of 10 events each; returns its size in bytes."""

    def chunks() -> Iterator[str]:
        yield '<?xml version="1.0" encoding="UTF-8" ?>\n<log xes.version="1.0" xmlns="http://www.xes-standard.org/">\n'
        for c in range(cases):
            yield f'<trace><string key="concept:name" value="case-{c}"/><string key="channel" value="Internet"/>'
            for e in range(EVENTS_PER_CASE):
                yield f'<event><date key="time:timestamp" value="2011-10-11T13:{e:02d}:40.276+02:00"/></event>'

            yield "</trace>\n"
        yield "</log>\n"

    with path.open("w", encoding="utf-8") as out:
        out.writelines(chunks())
    return path.stat().st_size


def peak_while_reading(path: Path) -> tuple[int, int]:
    """(events read, peak traced bytes) over a full pass of the reader."""
    tracemalloc.start()
    try:
        events = sum(len(case.events) for case in read_xes(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return events, peak


def test_reading_200k_events_needs_no_more_memory_than_reading_2k(tmp_path: Path) -> None:
    small, large = tmp_path / "small.xes", tmp_path / "large.xes"
    write_log(small, 200)
    size = write_log(large, 20_000)
    small_events, small_peak = peak_while_reading(small)
    large_events, large_peak = peak_while_reading(large)
    assert (small_events, large_events) == (2_000, 200_000)
    # The 200k-event file is ~17 MB; holding even its parsed events would take far more than this.
    assert size > 15_000_000
    assert large_peak < 1_000_000, f"peak {large_peak} bytes"
    assert large_peak < small_peak + 200_000, f"{small_peak} → {large_peak} bytes for 100× the events"


def test_nested_attributes_and_prefixed_tags_are_read_as_the_standard_says(tmp_path: Path) -> None:
    path = tmp_path / "log.xes"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8" ?>\n'
        '<xes:log xmlns:xes="http://www.xes-standard.org/"><xes:string key="concept:name" value="the log"/>'
        '<xes:trace><xes:string value="c1" key="concept:name"/>'  # value before key: still read
        '<xes:event><xes:string key="concept:name" value="A"/>'
        '<xes:list key="items"><xes:string key="concept:name" value="nested, not the activity"/></xes:list>'
        "</xes:event></xes:trace>"
        '<xes:trace><xes:event><xes:int key="n" value="2"/></xes:event></xes:trace></xes:log>',
        encoding="utf-8",
    )
    first, second = read_xes(path)
    assert first.case_id == "c1" and [dict(e.attributes) for e in first.events] == [{"concept:name": "A"}]
    assert second.case_id == "#1" and second.events[0].attributes == {"n": "2"}


def test_a_broken_or_foreign_file_is_refused_with_the_reason(tmp_path: Path) -> None:
    broken, foreign = tmp_path / "broken.xes", tmp_path / "foreign.xes"
    broken.write_text('<log><trace><string key="concept:name" value="c1"/></log>', encoding="utf-8")
    foreign.write_text("<html><body/></html>", encoding="utf-8")
    with pytest.raises(UnreadableLog, match=r"broken\.xes: malformed XML \(mismatched tag"):
        list(read_xes(broken))
    with pytest.raises(UnreadableLog, match=r"not an XES log \(root element <html>\)"):
        list(read_xes(foreign))


def test_plain_and_unusual_traces_read_the_same_whatever_path_reads_them(tmp_path: Path) -> None:
    """Plain traces are read by regular expressions, the others by expat: the cases must not tell.
    (The comment comes after the first 64 KiB: from there on, expat reads everything.)"""
    path = tmp_path / "mixed.xes"
    filler = (
        '<trace><string key="concept:name" value="filler"/><event><int key="n" value="0"/></event></trace>\n'
    )
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8" ?>\n<log xes.version="1.0">\n'
        '<string key="concept:name" value="the log"/>\n'
        '<trace>\n\t<string key="concept:name" value="plain"/>\n'
        '\t<event>\n\t\t<string key="concept:name" value="A"/>\n\t\t<date key="time:timestamp" value="t1" />\n\t</event>\n'
        '\t<string key="after" value="events"/>\n'
        '\t<event><string key="concept:name" value="B"/><string key="concept:name" value="B again"/></event>\n'
        "</trace>\n"
        '<trace><string key="concept:name" value="entities &amp; tabs"/>'
        '<event><string key="concept:name" value="x&lt;y\ttab"/></event></trace>\n'
        '<trace><string value="reversed" key="concept:name"/><event><int key="n" value="1"/></event></trace>\n'
        '<trace><event><string key="concept:name" value="no case id"/>'
        '<list key="l"><string key="concept:name" value="nested"/></list></event></trace>\n'
        '<trace><string key="concept:name" value="Vi\u1ec7t"/><event><boolean key="b" value="true"/></event></trace>\n'
        + filler
        * 1000
        + '<!-- a comment: <trace><string key="concept:name" value="commented out"/></trace> -->\n'
        '<trace><string key="concept:name" value="after the comment"/><event/></trace>\n'
        "</log>\n",
        encoding="utf-8",
    )
    cases = [
        (c.case_id, dict(c.attributes), [(e.position, dict(e.attributes)) for e in c.events])
        for c in read_xes(path)
    ]
    assert len(cases) == 1006
    assert cases[:5] + cases[-2:] == [
        (
            "plain",
            {"concept:name": "plain", "after": "events"},
            [(0, {"concept:name": "A", "time:timestamp": "t1"}), (1, {"concept:name": "B again"})],
        ),
        ("entities & tabs", {"concept:name": "entities & tabs"}, [(0, {"concept:name": "x<y tab"})]),
        ("reversed", {"concept:name": "reversed"}, [(0, {"n": "1"})]),
        ("#3", {}, [(0, {"concept:name": "no case id"})]),
        ("Vi\u1ec7t", {"concept:name": "Vi\u1ec7t"}, [(0, {"b": "true"})]),
        ("filler", {"concept:name": "filler"}, [(0, {"n": "0"})]),
        ("after the comment", {"concept:name": "after the comment"}, [(0, {})]),
    ]


def test_a_malformed_line_after_plain_traces_is_reported_where_it_is(tmp_path: Path) -> None:
    path = tmp_path / "late.xes"
    plain = '<trace>\n<string key="concept:name" value="c"/>\n<event><string key="a" value="b"/></event>\n</trace>'
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8" ?>\n<log>\n' + plain * 3000 + "<trace><event></trace>\n</log>\n"
    )
    with pytest.raises(UnreadableLog, match=r"malformed XML \(mismatched tag: line 9003, column 24\)"):
        list(read_xes(path))

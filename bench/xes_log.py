"""A large event log for the replay bench, simulated in the shape of the receipt log.

Seeded, so the same ``events`` and ``seed`` give the same file byte for byte. Each case has
3–7 events drawn from the receipt phase's main path (confirmation of receipt, T02, optional
T03, T04, T05, T06, T10), one event in five at the same millisecond as the one before it (tied
timestamps, as exported logs have), the case attributes the shipped mapping
``services/replay/mappings/receipt.toml`` reads (startdate, enddate — absent for one case in
ten, still open at the log's end —, deadline 56 days on, channel), and the same XES keys as
``../shared/data/receipt.xes.gz``. So the real mapping and its registry set-up replay it.

    .venv/bin/python -m bench.xes_log /tmp/big.xes --events 561470
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

_PATH = [
    ("Confirmation of receipt", "EMPTY"),
    ("T02 Check confirmation of receipt", "Group 4"),
    ("T03 Adjust confirmation of receipt", "Group 1"),
    ("T04 Determine confirmation of receipt", "Group 3"),
    ("T05 Print and send confirmation of receipt", "Group 2"),
    ("T06 Determine necessity of stop advice", "Group 1"),
    ("T10 Determine necessity to stop indication", "Group 1"),
]
_CHANNELS = ["Internet"] * 17 + ["Desk", "Post", "e-mail"]
_ZONE = ZoneInfo("Europe/Amsterdam")

_HEADER = """<?xml version="1.0" encoding="UTF-8" ?>
<log xes.version="1.0" xes.features="nested-attributes" xmlns="http://www.xes-standard.org/">
\t<extension name="Lifecycle" prefix="lifecycle" uri="http://www.xes-standard.org/lifecycle.xesext"/>
\t<extension name="Organizational" prefix="org" uri="http://www.xes-standard.org/org.xesext"/>
\t<extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>
\t<extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
\t<classifier name="Activity classifier" keys="concept:name lifecycle:transition"/>
\t<string key="concept:name" value="simulated receipt log"/>
"""


def _moment(t: datetime) -> str:
    return t.astimezone(_ZONE).isoformat(timespec="milliseconds")


def _activities(rng: random.Random) -> list[tuple[str, str]]:
    n = rng.randint(3, 7)
    path = list(_PATH) if n == 7 or rng.random() < 0.1 else [a for a in _PATH if not a[0].startswith("T03")]
    return path[:n]


def traces(events: int, seed: int = 1) -> Iterator[str]:
    """XES ``<trace>`` elements until ``events`` events are written (the last case may be cut short)."""
    rng = random.Random(seed)
    start = datetime(2011, 1, 3, 9, tzinfo=_ZONE)
    left = events
    n = 0
    while left > 0:
        n += 1
        start += timedelta(seconds=rng.randint(30, 400))
        activities = _activities(rng)[:left]
        left -= len(activities)
        t = start + timedelta(minutes=rng.randint(1, 120))
        lines = []
        resource = f"Resource{rng.randint(1, 40):02d}"
        for i, (name, group) in enumerate(activities):
            if i and rng.random() >= 0.2:  # else: the same millisecond as the event before (a tie)
                t += timedelta(seconds=rng.randint(5, 86_400 * 3))
            lines.append(
                "\t\t<event>\n"
                f'\t\t\t<string key="org:group" value="{group}"/>\n'
                f'\t\t\t<string key="org:resource" value="{resource}"/>\n'
                f'\t\t\t<string key="concept:name" value="{name}"/>\n'
                f'\t\t\t<date key="time:timestamp" value="{_moment(t)}"/>\n'
                '\t\t\t<string key="lifecycle:transition" value="complete"/>\n'
                "\t\t</event>\n"
            )
        end = (
            ""
            if rng.random() < 0.1
            else f'\t\t<date key="enddate" value="{_moment(t + timedelta(days=rng.randint(0, 70)))}"/>\n'
        )
        yield (
            "\t<trace>\n"
            f'\t\t<string key="concept:name" value="case-{n}"/>\n'
            f'\t\t<date key="startdate" value="{_moment(start)}"/>\n'
            f'\t\t<date key="deadline" value="{_moment(start + timedelta(days=56))}"/>\n'
            f"{end}"
            f'\t\t<string key="channel" value="{rng.choice(_CHANNELS)}"/>\n'
            '\t\t<string key="department" value="General"/>\n' + "".join(lines) + "\t</trace>\n"
        )


def write_log(path: Path, events: int, seed: int = 1) -> Path:
    """Write the simulated log at ``path`` (plain XES) and return the path."""
    with path.open("w", encoding="utf-8") as out:
        out.write(_HEADER)
        for trace in traces(events, seed):
            out.write(trace)
        out.write("</log>\n")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("path", type=Path)
    ap.add_argument("--events", type=int, default=561_470)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    write_log(args.path, args.events, args.seed)
    print(f"wrote {args.path} ({args.path.stat().st_size / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()

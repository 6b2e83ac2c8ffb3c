"""The control slip names units, not codes: every unit code the seed and the simulator use has a name."""

from __future__ import annotations

import re
from pathlib import Path

from services.reporting.dashboard_data import unit_name

ROOT = Path(__file__).resolve().parents[2]


def test_every_unit_code_of_the_seed_and_the_simulator_has_a_name_in_both_languages() -> None:
    sources = (
        ROOT / "services/registry/seeds/cantho.py",
        ROOT / "services/simulator/domain/province.py",
    )
    codes = set()
    for source in sources:
        text = source.read_text(encoding="utf-8")
        codes |= set(re.findall(r'"((?:BP|LD|TP|DC|P|TTPV)[A-Z.\-]*)"', text))
    assert {"BP.MC", "BPMC", "LD", "TP-HT", "P.PCCC"} <= codes
    for code in codes:
        assert unit_name(code, "vi") != code, code
        assert unit_name(code, "en") != code, code
    assert unit_name("BP.MC", "vi") == "Bộ phận Một cửa"
    assert unit_name("BP.MC", "en") == "One-stop shop"


def test_an_unknown_unit_code_is_shown_as_it_is() -> None:
    assert unit_name("PHONG-X", "vi") == "PHONG-X"
    assert unit_name(None, "vi") == ""

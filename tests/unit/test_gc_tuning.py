"""TTHC_GC_YOUNG_THRESHOLD: how often a service's youngest garbage-collector generation is collected."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from shared.runtime import tune_gc
from shared.settings import CommonSettings


@pytest.fixture(autouse=True)
def _restore_thresholds() -> Iterator[None]:
    kept = gc.get_threshold()
    yield
    gc.set_threshold(*kept)


def test_the_setting_sets_the_young_threshold_and_keeps_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    gc.set_threshold(700, 10, 10)
    monkeypatch.setenv("TTHC_GC_YOUNG_THRESHOLD", "15000")
    tune_gc(CommonSettings().gc_young_threshold)
    assert gc.get_threshold() == (15000, 10, 10)


def test_zero_keeps_pythons_default() -> None:
    gc.set_threshold(700, 10, 10)
    tune_gc(0)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_negative_threshold_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTHC_GC_YOUNG_THRESHOLD", "-1")
    with pytest.raises(ValueError, match="gc_young_threshold"):
        CommonSettings()

"""Folded dossiers kept in memory between batches, so a batch folds only its new events.

A dossier's :class:`~services.processing.domain.history.Fold` is kept with the token its
assessment was stored with (``processing.dossiers.fold_token``, a new random one at every
store). It is used only while the stored token is still that one: a transaction that rolled
back, another replica that assessed the dossier meanwhile, events removed after a failed
assessment — all leave another token (or none) in the table, and the dossier is folded again
from its stored events. The store is bounded (least recently used out first), so memory stays
flat however many dossiers are open.
"""

from __future__ import annotations

import random
from collections import OrderedDict

from services.processing.domain.history import Fold


def new_token() -> int:
    """A fresh fold token (63 random bits: a collision with a stale one is not a concern)."""
    return random.getrandbits(63)


class FoldStore:
    """Folds by dossier code, each with the token it is valid for, holding at most ``max_events``
    events in all (``TTHC_FOLD_STORE_EVENTS``); 0 keeps nothing."""

    def __init__(self, max_events: int) -> None:
        if max_events < 0:
            raise ValueError(f"fold store budget must be 0 or more events, got {max_events}")
        self.max_events = max_events
        self.events = 0  # the sum of the kept folds' events
        self._folds: OrderedDict[str, tuple[int, Fold]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._folds)

    def get(self, dossier_code: str, stored_token: int | None) -> Fold | None:
        """The dossier's fold if it was kept for ``stored_token`` (the token in the table now)."""
        kept = self._folds.get(dossier_code)
        if kept is None or stored_token is None or kept[0] != stored_token:
            return None
        self._folds.move_to_end(dossier_code)
        return kept[1]

    def put(self, dossier_code: str, token: int, fold: Fold) -> None:
        self.discard(dossier_code)
        size = len(fold)
        if fold.finished or size > self.max_events:
            return
        self._folds[dossier_code] = (token, fold)
        self.events += size
        while self.events > self.max_events:
            _, (_, out) = self._folds.popitem(last=False)
            self.events -= len(out)

    def discard(self, dossier_code: str) -> None:
        kept = self._folds.pop(dossier_code, None)
        if kept is not None:
            self.events -= len(kept[1])

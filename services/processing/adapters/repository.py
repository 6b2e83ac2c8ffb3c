"""Processing tables: set-based SQL (COPY, unnest) so a batch costs a few round trips."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.processing.adapters.literals import int_array, text_array, timestamptz_array
from services.processing.adapters.registry_copy import Applied
from shared.contracts import DossierAssessment
from shared.contracts.events import DossierEvent, parse_dossier_event
from shared.db import Conn


async def insert_events(
    conn: Conn, events: Sequence[DossierEvent], bodies: Sequence[str] | None = None
) -> set[str]:
    """Store events; return the ids that were new (duplicates are ignored: the first copy stays).

    ``bodies`` are the events' JSON texts as received (already validated), stored as they are
    instead of serialising the models again. The new rows go in by one ``COPY`` (text format:
    the pool's jsonb codec is a text one, and PostgreSQL parses the JSON either way). The caller
    holds the dossiers' locks (:func:`lock_dossiers`), so no other transaction stores one of
    their events between the look-up of the known ids and the copy.
    """
    if not events:
        return set()
    texts = list(bodies) if bodies is not None else [e.model_dump_json() for e in events]
    first: dict[str, int] = {}
    for i, e in enumerate(events):
        first.setdefault(e.event_id, i)
    known = await conn.fetch(
        "SELECT event_id FROM processing.events WHERE event_id = ANY($1::text[])",
        list(first),
    )
    for r in known:
        del first[r["event_id"]]
    if first:
        rows = _copy_rows([events[i] for i in first.values()], [texts[i] for i in first.values()])
        await conn.copy_to_table(
            "events",
            schema_name="processing",
            columns=("event_id", "dossier_code", "event_type", "occurred_at", "body"),
            # a buffer (documented, not in the stubs); not bytes, which asyncpg would take for a path
            source=memoryview(rows.encode()),  # type: ignore[arg-type]
            format="text",
        )
    return set(first)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _copy_rows(events: Sequence[DossierEvent], texts: Sequence[str]) -> str:
    """The rows of the ``COPY`` (text format), escaped only where a field needs it.

    The codes are plain by the contract's patterns and the event type is one of the enum's values;
    the id and the body are texts, searched once together for a character to escape.
    """
    ids = [e.event_id for e in events]
    joined = "".join(ids) + "".join(texts)
    if "\\" in joined or "\n" in joined or "\t" in joined or "\r" in joined:
        ids = [_copy_text(i) for i in ids]
        texts = [_copy_text(t) for t in texts]
    return "".join(
        f"{i}\t{e.dossier_code}\t{e.event_type}\t{e.occurred_at.isoformat()}\t{t}\n"
        for i, e, t in zip(ids, events, texts, strict=True)
    )


def _copy_text(value: str) -> str:
    """``value`` as a field of COPY's text format (backslash, newline, CR and tab escaped)."""
    if "\\" in value or "\n" in value or "\t" in value or "\r" in value:  # searches in C: most have none
        return value.translate(_COPY_ESCAPES)
    return value


async def fold_tokens(conn: Conn, dossier_codes: Sequence[str]) -> dict[str, int | None]:
    """The fold token each dossier's stored assessment has (absent: no assessment stored yet)."""
    rows = await conn.fetch(
        "SELECT dossier_code, fold_token FROM processing.dossiers WHERE dossier_code = ANY($1::text[])",
        list(dossier_codes),
    )
    return {r["dossier_code"]: r["fold_token"] for r in rows}


async def load_histories(
    conn: Conn, dossier_codes: Sequence[str], in_hand: dict[str, list[DossierEvent]] | None = None
) -> dict[str, list[DossierEvent]]:
    """Every stored event of ``dossier_codes``, plus the ``in_hand`` ones (parsed already, not again)."""
    histories: dict[str, list[DossierEvent]] = {
        code: list(events) for code, events in (in_hand or {}).items()
    }
    known = [e.event_id for events in histories.values() for e in events]
    # what is in hand is not read back (a hashed anti-join: the batch's own rows stay in PostgreSQL)
    rows = await conn.fetch(
        """
        SELECT dossier_code, body::text AS body FROM processing.events
        WHERE dossier_code = ANY($1::text[]) AND event_id NOT IN (SELECT unnest($2::text::text[]))
        """,
        list(dossier_codes),
        text_array(known),
    )
    for r in rows:
        histories.setdefault(r["dossier_code"], []).append(parse_dossier_event(r["body"]))
    return histories


# Beside the stored assessment, not in it: what changes with the run rather than the events —
# the revision and assessment time, and the at-risk warning of the model of the moment.
NOT_STORED = frozenset({"assessed_at", "revision", "at_risk_since", "forecast_resolved_at"})


def stored_json(item: DossierAssessment) -> str:
    """The assessment as stored: a function of the dossier's events and the registry alone."""
    return item.model_dump_json(exclude=set(NOT_STORED))


async def save_assessments(
    conn: Conn,
    items: Sequence[DossierAssessment],
    next_deadlines: Sequence[datetime | None],
    bodies: Sequence[str] | None = None,
    fold_tokens: Sequence[int | None] | None = None,
) -> dict[str, int]:
    """Upsert assessments; return {dossier: revision} of those not yet published.

    The revision grows only when the assessment really changed, so consumers keep the newest;
    the next deadline (the timer) is stored either way. ``bodies``: the items' :func:`stored_json`
    when the caller has it already. ``fold_tokens``: the token under which the caller keeps each
    dossier's fold (``adapters/folds.py``); None stores none, so the next batch folds it again.
    """
    if not items:
        return {}
    rows = await conn.fetch(
        """
        INSERT INTO processing.dossiers AS d (dossier_code, agency_code, procedure_code, status, outcome,
            accepted_at, due_at, index_due_at, resolved_at, revision, assessment, next_deadline,
            at_risk_since, forecast_resolved_at, fold_token)
        SELECT * FROM unnest($1::text::text[], $2::text::text[], $3::text::text[], $4::text::smallint[],
            $5::text::text[], $6::text::timestamptz[], $7::text::timestamptz[], $8::text::timestamptz[],
            $9::text::timestamptz[], $10::text::int[], $11::text[]::jsonb[], $12::text::timestamptz[],
            $13::text::timestamptz[], $14::text::timestamptz[], $15::text::bigint[])
        ON CONFLICT (dossier_code) DO UPDATE SET
            agency_code = EXCLUDED.agency_code, procedure_code = EXCLUDED.procedure_code,
            status = EXCLUDED.status, outcome = EXCLUDED.outcome, accepted_at = EXCLUDED.accepted_at,
            due_at = EXCLUDED.due_at, index_due_at = EXCLUDED.index_due_at, resolved_at = EXCLUDED.resolved_at,
            revision = CASE WHEN (d.assessment, d.at_risk_since, d.forecast_resolved_at) IS DISTINCT FROM
                                 (EXCLUDED.assessment, EXCLUDED.at_risk_since, EXCLUDED.forecast_resolved_at)
                            THEN d.revision + 1 ELSE d.revision END,
            assessment = EXCLUDED.assessment, next_deadline = EXCLUDED.next_deadline,
            at_risk_since = EXCLUDED.at_risk_since, forecast_resolved_at = EXCLUDED.forecast_resolved_at,
            fold_token = EXCLUDED.fold_token,
            updated_at = CASE WHEN d.assessment IS DISTINCT FROM EXCLUDED.assessment THEN now() ELSE d.updated_at END
        RETURNING dossier_code, revision, published_revision
        """,
        # arrays as literals (adapters/literals.py): asyncpg's list encoding cost more than the statement
        text_array([a.dossier_code for a in items]),
        text_array([a.agency_code for a in items]),
        text_array([a.procedure_code for a in items]),
        int_array([a.status for a in items]),
        text_array([a.outcome.value if a.outcome else None for a in items]),
        timestamptz_array([a.accepted_at for a in items]),
        timestamptz_array([a.due_at for a in items]),
        timestamptz_array([a.index_due_at for a in items]),
        timestamptz_array([a.resolved_at for a in items]),
        int_array([1] * len(items)),
        # a list, not a literal: every body has quotes, which a literal escapes (6 µs a body) and
        # asyncpg's binary array does not need (about 1 µs)
        list(bodies) if bodies is not None else [stored_json(a) for a in items],
        timestamptz_array(next_deadlines),
        timestamptz_array([a.at_risk_since for a in items]),
        timestamptz_array([a.forecast_resolved_at for a in items]),
        int_array(list(fold_tokens) if fold_tokens is not None else [None] * len(items)),
    )
    return {r["dossier_code"]: r["revision"] for r in rows if r["revision"] > r["published_revision"]}


async def unpublished(conn: Conn, limit: int) -> list[tuple[str, int, dict[str, Any]]]:
    """Stored assessments that are not on the compliance topic yet, with their at-risk warning."""
    rows = await conn.fetch(
        "SELECT dossier_code, revision, assessment, at_risk_since, forecast_resolved_at "
        "FROM processing.dossiers WHERE published_revision < revision ORDER BY dossier_code LIMIT $1",
        limit,
    )
    return [(r["dossier_code"], r["revision"], with_forecast(r)) for r in rows]


def with_forecast(row: Any) -> dict[str, Any]:
    """A row's stored ``assessment`` with its at-risk columns put back (JSON values)."""
    return {
        **row["assessment"],
        "at_risk_since": row["at_risk_since"].isoformat() if row["at_risk_since"] else None,
        "forecast_resolved_at": row["forecast_resolved_at"].isoformat() if row["forecast_resolved_at"] else None,
    }


async def mark_published(conn: Conn, published: Sequence[tuple[str, int]]) -> None:
    await conn.execute(
        """
        UPDATE processing.dossiers d SET published_revision = GREATEST(d.published_revision, p.revision)
        FROM unnest($1::text::text[], $2::text::int[]) AS p(code, revision) WHERE d.dossier_code = p.code
        """,
        text_array([c for c, _ in published]),
        int_array([r for _, r in published]),
    )


async def lock_keys(conn: Conn, keys: Sequence[str], *, exclusive: bool) -> None:
    """Serialise assessing against changing what the assessment depends on.

    Event batches take shared transaction locks on ``procedure:<code>`` and ``agency:<code>``,
    a registry change an exclusive one, so a change either sees the batch's dossiers committed
    or the batch sees the change — across processes too. Locks are taken in sorted order.
    """
    fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await conn.execute(
        f"SELECT {fn}(hashtextextended('tthc.' || k, 0)) "
        "FROM (SELECT DISTINCT unnest($1::text::text[]) AS k ORDER BY 1) s",
        text_array(set(keys)),  # a batch names a procedure or an agency many times: sent once
    )


async def lock_session_key(conn: Conn, key: str) -> None:
    """:func:`lock_keys`' exclusive lock on ``key``, held by the connection until :func:`unlock_session_key`
    (across commits; asyncpg's pool releases it anyway when the connection goes back)."""
    await conn.execute("SELECT pg_advisory_lock(hashtextextended('tthc.' || $1::text, 0))", key)


async def unlock_session_key(conn: Conn, key: str) -> None:
    await conn.execute("SELECT pg_advisory_unlock(hashtextextended('tthc.' || $1::text, 0))", key)


async def lock_dossiers(conn: Conn, dossier_codes: Sequence[str]) -> None:
    """Take the dossiers' locks until the transaction ends: one assessment of a dossier at a time.

    Without it an assessment started by a registry change or a timer could read the dossier's
    events before a concurrent event batch committed its own, and store its older verdict over
    the batch's newer one (seen as a resolved dossier left pending). Every path takes these
    locks, in code order, before it reads events or writes the dossier's row, so a later
    assessment always sees what the earlier one committed. Advisory, not row locks: a dossier's
    first event has no row to lock yet.
    """
    await lock_keys(conn, [f"dossier:{c}" for c in dossier_codes], exclusive=True)


async def claim_due_timers(conn: Conn, now: datetime, limit: int) -> list[str]:
    """Dossiers whose next deadline has passed, with their locks (:func:`lock_dossiers`) taken.

    A dossier another transaction holds (an event batch, another replica's sweep) is skipped:
    the holder re-assesses it anyway, or the next sweep does.
    """
    rows = await conn.fetch(
        """
        SELECT dossier_code FROM (
            SELECT dossier_code FROM processing.dossiers
            WHERE next_deadline <= $1 ORDER BY next_deadline LIMIT $2
        ) due
        WHERE pg_try_advisory_xact_lock(hashtextextended('tthc.dossier:' || dossier_code, 0))
        """,
        now,
        limit,
    )
    return [r["dossier_code"] for r in rows]


async def affected_dossiers(conn: Conn, applied: Applied, after: str, limit: int) -> list[str]:
    """The dossiers a registry change concerns, in pages ordered by code."""
    if applied.entity == "procedure":
        where, args = "procedure_code = $1", [applied.procedure_code]
    elif applied.entity == "iso_process":
        where, args = (
            "agency_code = $1 AND procedure_code = $2",
            [applied.agency_code, applied.procedure_code],
        )
    elif applied.entity == "qms":
        where, args = "agency_code = $1", [applied.agency_code]
    elif applied.entity == "calendar_override":
        # due dates of open dossiers may move; closed ones keep the calendar they were judged by
        where, args = "outcome IS NULL OR outcome IN ('pending_within', 'pending_overdue')", []
    else:
        return []
    n = len(args)
    rows = await conn.fetch(
        f"SELECT dossier_code FROM processing.dossiers WHERE ({where}) AND dossier_code > ${n + 1} "
        f"ORDER BY dossier_code LIMIT ${n + 2}",
        *args,
        after,
        limit,
    )
    return [r["dossier_code"] for r in rows]


async def delete_events(conn: Conn, event_ids: Sequence[str]) -> None:
    """Remove events stored earlier in this transaction (their dossier could not be assessed)."""
    await conn.execute(
        "DELETE FROM processing.events WHERE event_id = ANY($1::text[])",
        list(event_ids),
    )


async def retry_later(conn: Conn, dossier_codes: Sequence[str], at: datetime) -> None:
    """Set the dossiers' timer to ``at``: a re-assessment that failed is tried again then, not in a loop."""
    await conn.execute(
        "UPDATE processing.dossiers SET next_deadline = $2 WHERE dossier_code = ANY($1::text[])",
        list(dossier_codes),
        at,
    )

from __future__ import annotations

import io
import json
import logging

from shared.logs import JsonFormatter, log_context


def test_lines_are_json_with_service_and_dossier_context() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("processing"))
    log = logging.getLogger("test.logs")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with log_context(dossier_code="000.00.13.H13-250310-0001", event_id="e-1"):
            log.info("assessed %s", "late", extra={"batch": 3})
        log.warning("outside")
    finally:
        log.removeHandler(handler)
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["service"] == "processing"
    assert inside["msg"] == "assessed late"
    assert inside["dossier_code"] == "000.00.13.H13-250310-0001" and inside["event_id"] == "e-1"
    assert inside["batch"] == 3 and inside["level"] == "info"
    assert "dossier_code" not in outside and outside["level"] == "warning"


def test_identical_errors_are_written_once_per_interval_with_a_count() -> None:
    from shared.logs import RepeatFilter

    now = [0.0]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("processing"))
    handler.addFilter(RepeatFilter(30, clock=lambda: now[0]))
    log = logging.getLogger("test.logs.repeat")
    log.addHandler(handler)
    log.propagate = False
    try:
        for _ in range(1_000):  # a stuck dependency, many times a second
            try:
                raise ConnectionRefusedError("connect call failed ('127.0.0.1', 5432)")
            except ConnectionRefusedError:
                log.exception("timer sweep failed; retrying")
            log.warning("dead-lettered", extra={"offset": 7})
            now[0] += 0.01  # 10 s in all
        log.warning("dead-lettered", extra={"offset": 8})  # another letter: not identical
        log.info("info lines are never held back")
        log.info("info lines are never held back")
        now[0] += 25  # 35 s after the first
        log.exception(
            "timer sweep failed; retrying",
            exc_info=ConnectionRefusedError("connect call failed ('127.0.0.1', 5432)"),
        )
    finally:
        log.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(x["msg"], x.get("offset"), x.get("repeated")) for x in lines] == [
        ("timer sweep failed; retrying", None, None),
        ("dead-lettered", 7, None),
        ("dead-lettered", 8, None),
        ("info lines are never held back", None, None),
        ("info lines are never held back", None, None),
        ("timer sweep failed; retrying", None, 999),
    ]
    assert "ConnectionRefusedError" in lines[0]["exc"]

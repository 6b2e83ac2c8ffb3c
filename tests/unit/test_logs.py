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

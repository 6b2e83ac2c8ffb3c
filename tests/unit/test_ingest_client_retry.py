"""The ingest client waits out a 503 with Retry-After and succeeds; it gives up after its attempts."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.ingest_client import IngestClient, IngestUnavailable

ANSWER = {
    "results": [{"index": 0, "event_id": "e-1", "status": "accepted", "code": 202, "errors": []}],
    "accepted": 1,
    "duplicates": 0,
    "rejected": 0,
}


class Script:
    """The statuses the server answers, in order (the last one repeats), and what it received."""

    def __init__(self, statuses: list[int], retry_after: str = "1") -> None:
        self.statuses = statuses
        self.retry_after = retry_after
        self.seen: list[tuple[float, str, bytes]] = []


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script([503, 202])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            script.seen.append((time.monotonic(), self.headers["Authorization"], body))
            status = script.statuses[min(len(script.seen), len(script.statuses)) - 1]
            self.send_response(status)
            if status == 503:
                payload = json.dumps({"title": "Service unavailable", "status": 503}).encode()
                self.send_header("Retry-After", script.retry_after)
            else:
                payload = json.dumps(ANSWER).encode()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    finally:
        httpd.shutdown()
        httpd.server_close()


EVENT = {"event_id": "e-1", "event_type": "dossier.accepted"}


async def test_a_503_with_retry_after_is_waited_out_then_the_202_answer_returned(
    server: tuple[str, Script],
) -> None:
    url, script = server
    async with IngestClient(url, "key-1", backoff_initial=0.01) as client:
        answer = await client.send_events([EVENT])
    assert answer["accepted"] == 1 and answer["results"][0]["code"] == 202
    assert len(script.seen) == 2 and client.retries == 1
    (first, auth, body), (second, _, again) = script.seen
    assert second - first >= 1.0  # never sooner than Retry-After: 1
    assert auth == "Bearer key-1" and json.loads(body) == [EVENT] and again == body  # the same batch


async def test_it_gives_up_after_its_attempts_and_caps_a_huge_retry_after(server: tuple[str, Script]) -> None:
    url, script = server
    script.statuses, script.retry_after = [503], "86400"
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async with IngestClient(
        url, "k", max_attempts=3, backoff_initial=0.1, backoff_max=0.2, retry_after_max=5, sleep=sleep
    ) as client:
        with pytest.raises(IngestUnavailable, match="no success after 3 attempts; last: HTTP 503"):
            await client.send_events([EVENT])
    assert len(script.seen) == 3
    assert len(waits) == 2 and all(5 <= w <= 5.2 for w in waits), waits  # a day asked, 5 s waited

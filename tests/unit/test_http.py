from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from shared.http import Offset, install_common


async def ok() -> None:
    return None


def app() -> FastAPI:
    a = FastAPI()
    install_common(a, "test", {"database": ok})

    @a.get("/items")
    async def items(q: str = "") -> dict[str, str]:
        return {"q": q}

    return a


def test_nul_in_the_url_is_a_422_problem_not_a_server_error() -> None:
    client = TestClient(app())
    r = client.get("/items?q=a%00b")
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "NUL" in r.json()["detail"]
    assert client.get("/items?q=ab").json() == {"q": "ab"}


def test_validation_errors_name_the_field() -> None:
    a = app()

    @a.get("/n")
    async def n(limit: int) -> dict[str, int]:
        return {"limit": limit}

    r = TestClient(a).get("/n?limit=many")
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "query.limit"


def test_healthz_reports_each_check() -> None:
    r = TestClient(app()).get("/healthz")
    assert r.status_code == 200 and r.json()["checks"] == {"database": "ok"}


def test_an_offset_beyond_postgresql_bigint_is_a_422_naming_the_field() -> None:
    # found by fuzzing: offset=30605339606197055488 reached asyncpg and came back as a 500
    a = app()

    @a.get("/page")
    async def page(offset: Offset = 0) -> dict[str, int]:
        return {"offset": offset}

    client = TestClient(a)
    assert client.get(f"/page?offset={2**63 - 1}").json() == {"offset": 2**63 - 1}
    r = client.get("/page?offset=30605339606197055488")
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "offset" in r.text

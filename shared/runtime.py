"""What every service process does the same way: logging, pool + broker lifecycle, serving."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import FrameType

import asyncpg
import uvicorn
from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from shared.db import create_pool
from shared.http import install_common
from shared.kafka import ConsumerWatch, make_broker
from shared.logs import configure_logging
from shared.settings import CommonSettings, ServiceName

log = logging.getLogger(__name__)


@dataclass
class Resources:
    """A running service's connections."""

    pool: asyncpg.Pool
    broker: KafkaBroker


Wiring = Callable[[Resources], Awaitable[Callable[[], Awaitable[None]] | None]]


def build_service_app(
    service: ServiceName,
    settings: CommonSettings,
    broker: KafkaBroker,
    wire: Wiring,
    title: str,
) -> FastAPI:
    """A FastAPI app that owns a pool and a started broker for its lifetime.

    ``broker`` arrives with its subscribers declared; ``wire`` runs once the pool exists
    and may return a coroutine function called at shutdown (after the broker stopped).
    """
    state: dict[str, Resources] = {}
    # every consumer of the service: lag metric and /readyz (a consumer with lag that stopped moving)
    watch = ConsumerWatch(service, lambda: list(broker.subscribers), settings.consumer_stall_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(
            settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max
        )
        resources = Resources(pool, broker)
        state["r"] = resources
        app.state.resources = resources
        on_stop = await wire(resources)
        await broker.start()
        gc.freeze()  # what start-up built lives as long as the process: out of every later collection
        watching = asyncio.create_task(watch.run(settings.consumer_watch_interval_s), name="consumer-watch")
        try:
            yield
        finally:
            await stop_tasks([watching])
            await broker.stop()  # stop fetching, finish the batch in hand, commit
            if on_stop is not None:
                await on_stop()
            await pool.close()

    app = FastAPI(title=title, version="0.1.0", lifespan=lifespan)
    app.state.broker = broker  # also read by `tthc docs` for the AsyncAPI document

    async def check_db() -> None:
        async with state["r"].pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    async def check_kafka() -> None:
        if not await broker.ping(timeout=settings.health_timeout_s):
            raise ConnectionError(f"broker {settings.kafka_bootstrap_servers} does not answer")

    install_common(
        app,
        service,
        {"database": check_db, "kafka": check_kafka},
        timeout_s=settings.health_timeout_s,
        stalled_consumers=watch.stalled,
        consumers=watch.report,
    )
    app.state.consumer_watch = watch
    return app


async def stop_tasks(tasks: Iterable[asyncio.Task[None]], patience: float = 10.0) -> None:
    """Cancel background tasks and wait until they have really ended.

    A cancellation can be swallowed: in Python 3.11 ``asyncio.wait_for`` returns the inner
    result when it completes at the moment the cancel arrives, and a ``while True`` loop
    around it then runs forever. So the cancel is repeated until the task ends; after
    ``patience`` seconds the task is logged and left, so a shutdown never hangs.
    """
    pending = {t for t in tasks if not t.done()}
    deadline = asyncio.get_running_loop().time() + patience
    while pending:
        for task in pending:
            task.cancel()
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            log.error("background tasks did not stop: %s", sorted(t.get_name() for t in pending))
            return
        _, pending = await asyncio.wait(pending, timeout=min(0.5, left))


def broker_for(service: ServiceName, settings: CommonSettings) -> KafkaBroker:
    """The service's broker (declare subscribers on it before building the app)."""
    return make_broker(settings, client_id=f"tthc-{service}")


def tune_gc(young_threshold: int) -> None:
    """Collect the youngest generation every ``young_threshold`` allocations (0: Python's default).

    Each young collection promotes survivors, and every tenth of the next generation's collections
    runs a full one, which walks every tracked object of the process: with the default 700, a
    processing batch over a full fold store ran several full collections of millions of objects.
    """
    if young_threshold > 0:
        _, middle, old = gc.get_threshold()
        gc.set_threshold(young_threshold, middle, old)


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(app: FastAPI, service: ServiceName, settings: CommonSettings) -> None:
    """Run ``app`` until SIGINT/SIGTERM, then shut down gracefully and exit 0.

    uvicorn re-raises the stop signal after its graceful shutdown; the handlers installed
    here turn that into a clean exit instead of death by signal. ``request.client`` is the TCP
    peer: uvicorn's proxy-header rewriting is off (``shared.auth.client_address`` decides).
    """
    configure_logging(service, settings.log_level, settings.log_repeat_interval_s)
    tune_gc(settings.gc_young_threshold)
    signal.signal(signal.SIGTERM, _exit_cleanly)
    signal.signal(signal.SIGINT, _exit_cleanly)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.port_of(service),
        log_level=settings.log_level.lower(),
        log_config=None,  # keep our JSON handler
        access_log=False,
        timeout_graceful_shutdown=20,
        # uvicorn's default (proxy_headers=True, forwarded_allow_ips="127.0.0.1") rewrites the peer
        # from X-Forwarded-For for any local caller, so the registry's TTHC_LOGIN_TRUSTED_PROXIES
        # would never see the real peer: a header forged from 127.0.0.1 would choose the address
        # wrong passwords count against. Each service reads the header itself, where a setting says so.
        proxy_headers=False,
    )

"""The ``tthc`` command line."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import click

from services.cli import running
from services.cli.errors import TthcGroup
from shared.settings import CommonSettings

if TYPE_CHECKING:
    import asyncpg

#: Commands that start a system rather than use the running one.
_STARTS_A_SYSTEM = {"up"}


@click.group(cls=TthcGroup)
@click.pass_context
def main(ctx: click.Context) -> None:
    """TTHC Monitor: live compliance of administrative-procedure dossiers."""
    if ctx.invoked_subcommand not in _STARTS_A_SYSTEM:
        filled = running.adopt()  # the running `tthc up` fills what the environment does not say
        ctx.call_on_close(lambda: running.forget(filled))


def _database_url() -> str:
    return running.database_url(CommonSettings().database_url)


def _bootstrap_servers() -> str:
    return running.bootstrap_servers(CommonSettings().kafka_bootstrap_servers)


@main.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="the data folder: PostgreSQL's data, logs/, run.json [default: $TTHC_DATA_DIR or ./.tthc]",
)
@click.option(
    "--demo/--no-demo",
    default=False,
    help="load demo data, keep a simulated stream going and let reporting answer anonymous reads",
)
def up(data_dir: Path | None, demo: bool) -> None:
    """Start the whole system: PostgreSQL and a Kafka-protocol broker unless DATABASE_URL /
    KAFKA_BOOTSTRAP_SERVERS are set, then migrations, topics and the three services; restart any of
    them that crashes, until Ctrl-C or SIGTERM."""
    from services.cli.up import run_up
    from shared import runstate

    raise SystemExit(run_up(CommonSettings(), runstate.data_dir(data_dir), demo))


@main.command("logs")
@click.argument(
    "service",
    required=False,
    type=click.Choice(["registry", "processing", "reporting", "postgres", "broker"]),
)
@click.option("-f", "--follow", is_flag=True, help="keep printing new lines until Ctrl-C")
@click.option("-n", "--lines", default=50, show_default=True, type=click.IntRange(min=0))
@click.option("--json", "as_json", is_flag=True, help="the JSON lines as they are stored")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="the data folder of `tthc up` [default: $TTHC_DATA_DIR or ./.tthc]",
)
def logs_command(service: str | None, follow: bool, lines: int, as_json: bool, data_dir: Path | None) -> None:
    """Show the services' logs kept by `tthc up` (all services, or one), readable."""
    from services.cli.logs import run_logs

    raise SystemExit(run_logs(service, follow=follow, lines=lines, as_json=as_json, data_dir=data_dir))


@main.command()
def migrate() -> None:
    """Apply every service's database migrations (safe to repeat and to run concurrently)."""
    from shared.db import migrate_all

    applied = asyncio.run(migrate_all(_database_url()))
    click.echo(f"applied {len(applied)} migration(s)" + "".join(f"\n  {a}" for a in applied))


@main.command()
def topics() -> None:
    """Create the Kafka topics that do not exist yet."""
    from shared.kafka import ensure_topics

    _bootstrap_servers()
    created = asyncio.run(ensure_topics(CommonSettings()))
    click.echo(f"created {len(created)} topic(s)" + "".join(f"\n  {t}" for t in created))


@main.command()
def status() -> None:
    """Health, consumer lag, dead letters, dossiers and events of the running system."""
    from services.cli.status import collect

    settings = CommonSettings()
    if not (settings.database_url or settings.kafka_bootstrap_servers):
        raise click.ClickException(running.NO_SYSTEM)
    result = asyncio.run(collect(settings))
    click.echo(result.render())
    if not result.healthy:
        raise SystemExit(1)


@main.command()
@click.option("--check", is_flag=True, help="fail if the committed schemas differ from the models")
def schemas(check: bool) -> None:
    """Write the JSON Schemas of the event contracts into shared/contracts/schemas/."""
    from shared.contracts.schemas import SCHEMA_DIR, render_schemas, write_schemas

    if check:
        stale = [
            n
            for n, text in render_schemas().items()
            if not (SCHEMA_DIR / n).exists() or (SCHEMA_DIR / n).read_text(encoding="utf-8") != text
        ]
        if stale:
            raise click.ClickException(f"schemas out of date: {', '.join(stale)}; run `tthc schemas`")
        click.echo("schemas are current")
        return
    for path in write_schemas():
        click.echo(f"wrote {path}")


@main.group()
def dlq() -> None:
    """Dead letters: messages that could not be parsed or validated, with the reason."""


def _dlq_topic(topic: str | None) -> str:
    from shared.settings import Topics

    return topic or Topics.dlq(CommonSettings().topics.dossier_events)


def _offsets(text: str) -> set[tuple[int, int]]:
    wanted = set()
    for item in text.split(","):
        partition, _, offset = item.strip().partition(":")
        if not (partition.isdigit() and offset.isdigit()):
            raise click.BadParameter(
                f"{item.strip()!r}: write PARTITION:OFFSET, e.g. 0:12,3:7 (`tthc dlq list` shows them)",
                param_hint="--offsets",
            )
        wanted.add((int(partition), int(offset)))
    return wanted


@dlq.command("list")
@click.option("--topic", help="dead-letter topic (default: the dossier-events DLQ)")
@click.option("--kind", help="only this kind, e.g. invalid_json, invalid_event, unknown_event_type")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def dlq_list(topic: str | None, kind: str | None, limit: int, as_json: bool) -> None:
    """Show dead letters with their reasons."""
    import json as jsonlib

    from services.cli.dlq import read_dead_letters

    letters = asyncio.run(read_dead_letters(_bootstrap_servers(), _dlq_topic(topic)))
    shown = [d for d in letters if kind is None or d.body.get("kind") == kind]
    for d in shown[:limit]:
        if as_json:
            click.echo(
                jsonlib.dumps({"partition": d.partition, "offset": d.offset, **d.body}, ensure_ascii=False)
            )
        else:
            original = d.original[:100].decode("utf-8", "replace")
            click.echo(
                f"{d.partition}:{d.offset}  {d.body.get('kind', '?'):<20} {d.body.get('reason', '')}\n    {original}"
            )
    click.echo(
        f"{len(shown)} dead letter(s){f' of kind {kind}' if kind else ''}, {min(limit, len(shown))} shown",
        err=True,
    )


@dlq.command("redrive")
@click.option("--topic", help="dead-letter topic (default: the dossier-events DLQ)")
@click.option("--offsets", help="comma-separated PARTITION:OFFSET of the letters to re-drive")
@click.option("--kind", help="re-drive every letter of this kind")
@click.option("--all", "everything", is_flag=True, help="re-drive every letter")
@click.option("--to", "target", help="publish to this topic instead of each letter's source topic")
def dlq_redrive(
    topic: str | None, offsets: str | None, kind: str | None, everything: bool, target: str | None
) -> None:
    """Publish selected dead letters' original bytes again, after the cause was fixed."""
    from services.cli.dlq import read_dead_letters, redrive

    if not (offsets or kind or everything):
        raise click.UsageError("choose what to re-drive: --offsets P:O,…, --kind KIND or --all")
    wanted = _offsets(offsets) if offsets else set()
    servers = _bootstrap_servers()
    letters = asyncio.run(read_dead_letters(servers, _dlq_topic(topic)))
    chosen = [
        d
        for d in letters
        if everything or (kind and d.body.get("kind") == kind) or (d.partition, d.offset) in wanted
    ]
    missing = wanted - {(d.partition, d.offset) for d in letters}
    if missing:
        raise click.ClickException(f"no dead letter at {', '.join(f'{p}:{o}' for p, o in sorted(missing))}")
    count = asyncio.run(redrive(servers, chosen, target))
    click.echo(f"re-drove {count} dead letter(s)")


@main.command()
@click.argument("name", type=click.Choice(["cantho-2021", "cantho-2025"]))
def seed(name: str) -> None:
    """Load a seed scenario into the registry (DATABASE_URL); running it twice changes nothing."""
    from services.cli.seed import run_seed

    click.echo(run_seed(name, _database_url()))


@main.command()
@click.option("--subject", required=True, help="who holds the token, e.g. an e-mail address")
@click.option("--role", type=click.Choice(["admin", "officer", "viewer"]), required=True)
@click.option("--agency", "agency_code", default=None, help="the agency an officer is bound to")
def token(subject: str, role: str, agency_code: str | None) -> None:
    """Issue a registry bearer token (DATABASE_URL) and print it; only its hash is stored."""
    from services.registry.dev_token import issue_cli_token

    if role == "officer" and not agency_code:
        raise click.UsageError(
            "an officer token is bound to an agency: add --agency CODE (e.g. 000.00.13.H13)"
        )
    if role != "officer" and agency_code:
        raise click.UsageError(f"only officer tokens are bound to an agency: drop --agency for --role {role}")
    from services.registry.handlers import Invalid

    try:
        click.echo(issue_cli_token(subject, role, agency_code, _database_url()))
    except Invalid as exc:
        if not any(e["field"] == "agency_code" for e in exc.errors):
            raise
        raise click.ClickException(
            f"no agency {agency_code} in the registry: give the code of an existing agency "
            "(GET /api/v1/agencies on the registry lists them; `tthc seed cantho-2021` loads Cần Thơ's)"
        ) from None


@main.group()
def user() -> None:
    """Dashboard users: a name and a password (kept as an argon2id hash) in the registry."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["admin", "officer", "viewer"]), default="officer", show_default=True)
@click.option("--agency", "agency_code", default=None, help="the agency whose subtree an officer sees")
def user_add(name: str, role: str, agency_code: str | None) -> None:
    """Create a user; the password is asked (twice) or read from stdin, never an argument."""
    from services.cli import users

    if role == "officer" and not agency_code:
        raise click.UsageError("an officer sees one agency's subtree: add --agency CODE (e.g. 000.00.13.H13)")
    if role != "officer" and agency_code:
        raise click.UsageError(f"only officers are bound to an agency: drop --agency for --role {role}")
    password = users.read_password()
    users.add(_database_url(), name, role, agency_code, password)
    click.echo(f"user {name} created ({role}{' of ' + agency_code if agency_code else ''}); log in at /dashboard/login")


@user.command("password")
@click.argument("name")
def user_password(name: str) -> None:
    """Set a new password (asked, or read from stdin); lifts a lock-out and ends the user's sessions."""
    from services.cli import users

    password = users.read_password("New password")
    ended = users.change_password(_database_url(), name, password)
    click.echo(f"password of {name} changed; {ended} open session(s) ended")


@user.command("disable")
@click.argument("name")
def user_disable(name: str) -> None:
    """Refuse the user's logins from now on and end its open sessions."""
    from services.cli import users

    users.disable(_database_url(), name, True)
    click.echo(f"user {name} disabled")


@user.command("enable")
@click.argument("name")
def user_enable(name: str) -> None:
    """Accept the user's logins again."""
    from services.cli import users

    users.disable(_database_url(), name, False)
    click.echo(f"user {name} enabled")


@main.group()
def keys() -> None:
    """API keys of the emitting systems (HTTP ingest, docs/ingress.md); stored hashed."""


@keys.command("create")
@click.argument("name")
@click.option(
    "--agency",
    "agencies",
    multiple=True,
    help="agency code the emitter may report for (repeat it); '*' for every agency",
)
def keys_create(name: str, agencies: tuple[str, ...]) -> None:
    """Create a key for the emitting system NAME and print it — the only time it is shown."""
    import asyncpg

    from services.processing.adapters import emitter_keys

    if not agencies:
        raise click.UsageError(
            "bind the key to agencies: --agency 000.00.13.H13 (repeatable) or --agency '*'"
        )

    dsn = _database_url()

    async def create() -> str:
        conn = await asyncpg.connect(dsn)
        try:
            unknown = await _unknown_agencies(conn, agencies)
            if unknown:
                raise click.ClickException(
                    f"no agency {', '.join(unknown)} in the registry: use an existing agency code "
                    "(GET /api/v1/agencies on the registry, or `tthc seed cantho-2021`) or '*'"
                )
            return await emitter_keys.create_key(conn, name, agencies)
        finally:
            await conn.close()

    try:
        key = asyncio.run(create())
    except emitter_keys.KeyNameTaken as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(key)
    click.echo(
        f"key for {name!r} (agencies: {', '.join(sorted(set(agencies)))}); it is shown once and stored "
        "only as a hash: give it to the emitter now",
        err=True,
    )


async def _unknown_agencies(conn: asyncpg.Connection, agencies: tuple[str, ...]) -> list[str]:
    """The codes of ``agencies`` processing does not know (from the registry feed); '*' is every agency."""
    from services.processing.adapters.emitter_keys import ANY_AGENCY

    wanted = sorted({a.strip() for a in agencies if a.strip() and a.strip() != ANY_AGENCY})
    if not wanted:
        return []
    known = await conn.fetch(
        "SELECT entity_id FROM processing.registry_entities "
        "WHERE entity = 'agency' AND NOT deleted AND entity_id = ANY($1::text[])",
        wanted,
    )
    return sorted(set(wanted) - {r["entity_id"] for r in known})


@keys.command("list")
def keys_list() -> None:
    """Show the keys' names, state and agencies (never the keys, never their hashes)."""
    import asyncpg

    from services.processing.adapters import emitter_keys

    dsn = _database_url()

    async def fetch() -> list[emitter_keys.EmitterKeyInfo]:
        conn = await asyncpg.connect(dsn)
        try:
            return await emitter_keys.list_keys(conn)
        finally:
            await conn.close()

    infos = asyncio.run(fetch())
    for k in infos:
        state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
        click.echo(f"{k.name:<30} {state:<24} created {k.created_at:%Y-%m-%d %H:%M}  {', '.join(k.agencies)}")
    click.echo(f"{len(infos)} key(s)", err=True)


@keys.command("revoke")
@click.argument("name")
def keys_revoke(name: str) -> None:
    """Revoke the active key of NAME: its requests are refused (401) from now on."""
    import asyncpg

    from services.processing.adapters import emitter_keys

    dsn = _database_url()

    async def revoke() -> bool:
        conn = await asyncpg.connect(dsn)
        try:
            return await emitter_keys.revoke_key(conn, name)
        finally:
            await conn.close()

    if not asyncio.run(revoke()):
        raise click.ClickException(f"no active key named {name!r} (see `tthc keys list`)")
    click.echo(f"revoked the key of {name!r}")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--mapping",
    "mapping_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML mapping of the log (docs/replay.md), e.g. services/replay/mappings/receipt.toml",
)
@click.option(
    "--speed",
    default="full",
    show_default=True,
    help="'full' (as fast as possible) or N: N× the log's own pace",
)
@click.option(
    "--registry-url", default=None, help="registry base URL [default: http://127.0.0.1:<TTHC_REGISTRY_PORT>]"
)
@click.option(
    "--token",
    envvar=["TTHC_REGISTRY_TOKEN", "TTHC_ADMIN_TOKEN"],
    default=None,
    help="admin bearer token of the registry (env TTHC_REGISTRY_TOKEN or TTHC_ADMIN_TOKEN)",
)
@click.option("--no-registry", is_flag=True, help="do not create the registry entries the mapping declares")
@click.option(
    "--format", "fmt", type=click.Choice(["xes", "csv"]), default=None, help="[default: from the name]"
)
@click.option("--progress/--no-progress", default=True, help="progress bar with events/s")
def replay(
    file: Path,
    mapping_file: Path,
    speed: str,
    registry_url: str | None,
    token: str | None,
    no_registry: bool,
    fmt: str | None,
    progress: bool,
) -> None:
    """Import a historical event log (XES, .xes.gz, CSV) through Kafka (KAFKA_BOOTSTRAP_SERVERS)."""
    from services.replay.cli import run_replay_command

    _bootstrap_servers()
    click.echo(
        run_replay_command(
            file,
            mapping_file,
            speed,
            registry_url,
            token,
            no_registry=no_registry,
            fmt=fmt,
            progress=progress,
        )
    )


@main.command("docs")
@click.option("--check", is_flag=True, help="fail if docs/api/ differs from what the code generates")
def api_docs(check: bool) -> None:
    """Write the OpenAPI and AsyncAPI documents of the three services into docs/api/."""
    from services.cli.docs import DOCS_DIR, render_docs, write_docs

    if check:
        stale = [
            n
            for n, t in render_docs().items()
            if not (DOCS_DIR / n).exists() or (DOCS_DIR / n).read_text() != t
        ]
        if stale:
            raise click.ClickException(f"docs/api is out of date: {', '.join(stale)}; run `tthc docs`")
        click.echo("docs/api is current")
        return
    for path in write_docs():
        click.echo(f"wrote {path}")


@main.command()
@click.option("--dossiers", default=1_000, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--rate", default=None, type=click.FloatRange(min=0, min_open=True), help="events/s cap [default: none]"
)
@click.option(
    "--speedup",
    default=None,
    type=click.FloatRange(min=0, min_open=True),
    help="simulated seconds per real second [default: no pacing]",
)
@click.option("--seed", default=1, show_default=True, type=int, help="same seed and reference → same stream")
@click.option("--via", type=click.Choice(["kafka", "http"]), default="kafka", show_default=True)
@click.option(
    "--truth", type=click.Path(dir_okay=False, path_type=Path), default=None, help="ground truth (JSON lines)"
)
@click.option("--violation-rate", default=0.3, show_default=True, type=click.FloatRange(0, 1))
@click.option("--reference", default=None, help="the stream's 'now' (ISO 8601) [default: start of today]")
@click.option(
    "--registry-url", default=None, help="registry base URL [default: http://127.0.0.1:<TTHC_REGISTRY_PORT>]"
)
@click.option(
    "--token",
    envvar=["TTHC_REGISTRY_TOKEN", "TTHC_ADMIN_TOKEN"],
    default=None,
    help="admin bearer token of the registry (env TTHC_REGISTRY_TOKEN or TTHC_ADMIN_TOKEN)",
)
@click.option("--no-registry", is_flag=True, help="do not create the simulated province in the registry")
@click.option("--ingest-url", default=None, help="--via http: processing base URL [default: local port]")
@click.option(
    "--api-key", envvar="TTHC_INGEST_KEY", default=None, help="--via http: emitter key (env TTHC_INGEST_KEY)"
)
@click.option("--progress/--no-progress", default=True)
def simulate(
    dossiers: int,
    rate: float | None,
    speedup: float | None,
    seed: int,
    via: str,
    truth: Path | None,
    violation_rate: float,
    reference: str | None,
    registry_url: str | None,
    token: str | None,
    no_registry: bool,
    ingest_url: str | None,
    api_key: str | None,
    progress: bool,
) -> None:
    """Simulate a province's dossier stream with injected violations and write its ground truth."""
    from services.simulator.cli import run_simulate_command
    from services.simulator.simulate import Options

    if via == "kafka":
        _bootstrap_servers()

    options = Options(
        dossiers=dossiers,
        seed=seed,
        rate=rate,
        speedup=speedup,
        violation_rate=violation_rate,
        via=via,
        truth=truth,
        ingest_url=ingest_url,
        api_key=api_key,
        progress=progress,
    )
    click.echo(
        run_simulate_command(options, registry_url, token, no_registry=no_registry, reference=reference)
    )

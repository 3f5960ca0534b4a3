"""The `verihook` command: serve, migrate, reseal, retention, tenant (create, keys, suspension), listen, send."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import uvloop

from verihook.config import Settings, dispatcher_count
from verihook.errors import VerihookError

# Objects allocated before the young generation is collected (Python's default: 700). A batch publish makes tens
# of thousands of short-lived objects, so the default collected some 30 times per batch: a fifth of the API's CPU
# per event. Cycles are still collected, in fewer, larger passes.
GC_YOUNG_THRESHOLD = 20_000

if TYPE_CHECKING:
    from verihook.runtime import Runtime
    from verihook.service import Service



def redacted_url(url: str) -> str:
    """The URL with any password replaced, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _settings(args: argparse.Namespace) -> Settings:
    from verihook.logs import configure_logging

    settings = Settings.from_env()
    if getattr(args, "database_url", None):
        settings = settings.with_(database_url=args.database_url)
    configure_logging(settings.log_format)
    return settings


def _run(main: Callable[[], Awaitable[int]]) -> int:
    try:
        return uvloop.run(main())
    except VerihookError as error:
        print(f"verihook: {error.detail}", file=sys.stderr)
        return 2


async def _announce_admin_key(runtime: Runtime) -> None:
    """Print the admin key if this process made it (none configured or stored, and it won any race to store)."""
    made = await runtime.ensure_admin_key()
    if made is not None:
        print(f"verihook: admin API key (shown once, keep it): {made}", flush=True)


def serve(args: argparse.Namespace) -> int:
    from verihook.serving import share_metrics_dir

    settings = _settings(args)
    sys.setswitchinterval(settings.switch_interval_s)
    # serve: dispatcher processes beside this one (0: its own dispatcher, in this process)
    processes = 0 if args.role != "all" else settings.dispatchers if args.dispatchers is None else args.dispatchers
    owned_metrics_dir = share_metrics_dir() if processes else None  # before prometheus_client is imported
    if owned_metrics_dir is not None:
        settings = dataclasses.replace(settings, metrics_dir=owned_metrics_dir)

    import uvicorn

    from verihook.api.app import create_app
    from verihook.api.http_protocol import ProblemHttpToolsProtocol
    from verihook.runtime import build_runtime
    from verihook.serving import DispatcherProcesses

    async def main() -> int:
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        runtime = await build_runtime(settings)  # migrated, with its key file, before any dispatcher process starts
        if args.role != "worker":  # a worker serves no tenant API: it neither needs nor makes an admin key
            await _announce_admin_key(runtime)
        if processes:
            runtime.deliver_through(DispatcherProcesses(processes, runtime.settings, owned_metrics_dir))
        app = create_app(runtime, run_dispatcher=args.role != "api", serve_api=args.role != "worker")
        if args.role == "worker":
            print("verihook: worker running; Ctrl-C stops it", flush=True)
        log_config = None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG  # json: the root's
        config = uvicorn.Config(app, host=args.host, port=args.port, loop="none", http=ProblemHttpToolsProtocol,
                                log_level="warning", access_log=False, lifespan="on", log_config=log_config)
        server = uvicorn.Server(config)
        gc.freeze()  # what start-up made lives as long as the process: no collection walks it again
        print(f"verihook: listening on http://{args.host}:{args.port}/ "
              f"(database {redacted_url(runtime.settings.database_url)}"
              f"{f'; {processes} dispatcher processes' if processes else ''})", flush=True)
        try:
            await server.serve()
        finally:
            await runtime.close()
        return 0

    return _run(main)


def migrate(args: argparse.Namespace) -> int:
    from verihook.runtime import open_store

    async def main() -> int:
        store = open_store(_settings(args))
        applied = await store.migrate()
        await store.close()
        print(json.dumps({"applied": applied}))
        return 0

    return _run(main)


def reseal(args: argparse.Namespace) -> int:
    from verihook.runtime import open_store

    async def main() -> int:
        store = open_store(_settings(args))
        try:
            await store.migrate()
            resealed = await store.reseal()
        except ValueError as error:
            print(f"verihook: a sealed value does not open: {error}", file=sys.stderr)
            return 2
        finally:
            await store.close()
        print(json.dumps({"resealed": resealed}))
        return 0

    return _run(main)


def retention_run(args: argparse.Namespace) -> int:
    from verihook.runtime import open_store
    from verihook.service.retention import Retention

    async def main() -> int:
        settings = _settings(args)
        store = open_store(settings)
        try:
            await store.migrate()
            retention = Retention(store, settings.retention_days, settings.retention_every_s)
            counted = await (retention.count() if args.dry_run else retention.purge())
        finally:
            await store.close()
        print(json.dumps({**dataclasses.asdict(counted), "dry_run": args.dry_run}))
        return 0

    return _run(main)


def _as_admin(args: argparse.Namespace, act: Callable[[Service], Awaitable[dict[str, Any]]]) -> int:
    """Run `act` on a runtime's service (acting with the admin's rights) and print what it answers as JSON."""
    from verihook.runtime import build_runtime

    async def main() -> int:
        runtime = await build_runtime(_settings(args))
        try:
            answer = await act(runtime.service)
        finally:
            await runtime.close()
        print(json.dumps(answer))
        return 0

    return _run(main)


def tenant_rotate_key(args: argparse.Namespace) -> int:
    from verihook.service import ADMIN

    async def act(service: Service) -> dict[str, Any]:
        made = await service.keys.rotate(ADMIN, args.tenant, args.grace_s)
        return {"id": made.key.id, "tenant_id": made.key.tenant_id, "prefix": made.key.prefix,
                "api_key": made.api_key}

    return _as_admin(args, act)


def tenant_keys(args: argparse.Namespace) -> int:
    from verihook.service import ADMIN

    async def act(service: Service) -> dict[str, Any]:
        keys = await service.keys.list(ADMIN, args.tenant)
        return {"data": [{"id": k.id, "prefix": k.prefix, "created_at": k.created_at, "expires_at": k.expires_at}
                         for k in keys]}

    return _as_admin(args, act)


def tenant_revoke_key(args: argparse.Namespace) -> int:
    from verihook.service import ADMIN

    async def act(service: Service) -> dict[str, Any]:
        await service.keys.revoke(ADMIN, args.tenant, args.key_id)
        return {"revoked": args.key_id}

    return _as_admin(args, act)


def tenant_suspension(args: argparse.Namespace) -> int:
    from verihook.service import ADMIN

    async def act(service: Service) -> dict[str, Any]:
        tenant = await service.keys.set_suspended(ADMIN, args.tenant, args.tenant_command == "suspend")
        return {"id": tenant.id, "suspended": tenant.suspended_at is not None}

    return _as_admin(args, act)


def tenant_create(args: argparse.Namespace) -> int:
    from verihook.runtime import build_runtime
    from verihook.service import ADMIN

    async def main() -> int:
        runtime = await build_runtime(_settings(args))
        try:
            made = await runtime.service.tenants.create(ADMIN, args.name, args.parent, args.profile,
                                                        args.require_https, args.uid)
        finally:
            await runtime.close()
        print(json.dumps({"id": made.tenant.id, "uid": made.tenant.uid, "name": made.tenant.name,
                          "parent_id": made.tenant.parent_id,
                          "profile": made.tenant.profile, "api_key": made.api_key,
                          "signing_secret": made.signing_secret}))
        return 0

    return _run(main)


def send(args: argparse.Namespace) -> int:
    from verihook.runtime import build_runtime
    from verihook.service import ADMIN, EventInput

    try:
        data: Any = json.loads(args.data)
    except json.JSONDecodeError as error:
        print(f"verihook: --data is not valid JSON: {error}", file=sys.stderr)
        return 2

    async def main() -> int:
        runtime = await build_runtime(_settings(args))
        try:
            [published] = await runtime.service.events.publish(ADMIN, [EventInput(
                type=args.type, data=data, subject_id=args.subject, tenant_id=args.tenant,
                idempotency_key=args.idempotency_key)])
        finally:
            await runtime.close()
        print(json.dumps({"id": published.event.id, "sequence": published.event.sequence,
                          "deliveries": [d.id for d in published.deliveries], "duplicate": published.duplicate}))
        return 0

    return _run(main)


def listen(args: argparse.Namespace) -> int:
    from verihook.receiver.listen import listen_main, parse_statuses

    try:
        statuses = parse_statuses(args.status)
    except ValueError as error:
        print(f"verihook: --status: {error}", file=sys.stderr)
        return 2
    listen_main(args.host, args.port, args.secret, statuses)
    return 0


def _dispatcher_count(value: str) -> int:
    try:
        return dispatcher_count(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="verihook", description="Webhook delivery for identity-verification "
                                   "platforms.")
    commands = root.add_subparsers(dest="command", required=True)

    def with_database(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--database-url", help="sqlite:///path or postgresql://user@host/db (default: "
                         "$VERIHOOK_DATABASE_URL or sqlite:///verihook.db)")
        return sub

    for name, role, text in (("serve", "all", "API and dashboard, and a dispatcher process per core beside them"),
                             ("api", "api", "the HTTP API only (no dispatcher)"),
                             ("worker", "worker", "the dispatcher, with /healthz, /readyz and /metrics")):
        sub = with_database(commands.add_parser(name, help=text))
        sub.add_argument("--host", default="127.0.0.1")
        sub.add_argument("--port", type=int, default=8000 if role != "worker" else 8001)
        if role == "all":
            sub.add_argument("--dispatchers", type=_dispatcher_count, help="dispatcher processes beside the API's "
                             "(default: $VERIHOOK_DISPATCHERS or one per core; 0: the dispatcher runs in the API's)")
        sub.set_defaults(handler=serve, role=role, dispatchers=None)

    with_database(commands.add_parser("migrate", help="bring the schema up to date")).set_defaults(handler=migrate)
    with_database(commands.add_parser("reseal", help="seal every stored secret again under the first key of "
                                      "VERIHOOK_SECRET_KEY; prints {\"resealed\": N}")).set_defaults(handler=reseal)

    retention = commands.add_parser("retention", help="delete what retention allows").add_subparsers(
        dest="retention_command", required=True)
    run = with_database(retention.add_parser("run", help="one pass now: delete the finished events past their "
                                             "tenant's retention with their deliveries and attempts; prints the "
                                             "counts as JSON"))
    run.add_argument("--dry-run", action="store_true", help="count what one pass would delete; delete nothing")
    run.set_defaults(handler=retention_run)

    tenant = commands.add_parser("tenant", help="manage tenants").add_subparsers(dest="tenant_command",
                                                                                  required=True)
    create = with_database(tenant.add_parser("create", help="create a tenant and print its API key as JSON"))
    create.add_argument("name")
    create.add_argument("--parent", help="the parent tenant's id or uid (a reseller's child)")
    create.add_argument("--uid", help="the platform's own id for this customer (e.g. a Credas client GUID)")
    create.add_argument("--profile", help="default profile for the tenant's endpoints and subjects")
    create.add_argument("--require-https", action="store_true")
    create.set_defaults(handler=tenant_create)
    rotate = with_database(tenant.add_parser("rotate-key", help="a new API key for the tenant, printed once; older "
                                             "keys stay valid for --grace-s"))
    rotate.add_argument("tenant", help="the tenant's id or uid")
    rotate.add_argument("--grace-s", type=float, help="how long older keys stay valid (default 86400; 0: not at all)")
    rotate.set_defaults(handler=tenant_rotate_key)
    keys = with_database(tenant.add_parser("keys", help="the tenant's valid API keys (ids and prefixes, never a key)"))
    keys.add_argument("tenant")
    keys.set_defaults(handler=tenant_keys)
    revoke = with_database(tenant.add_parser("revoke-key", help="revoke one of the tenant's API keys now"))
    revoke.add_argument("tenant")
    revoke.add_argument("key_id", help="key_... as `tenant keys` lists it")
    revoke.set_defaults(handler=tenant_revoke_key)
    for name, text in (("suspend", "refuse the tenant and its descendants on every route"),
                       ("resume", "end a suspension")):
        sub = with_database(tenant.add_parser(name, help=text))
        sub.add_argument("tenant")
        sub.set_defaults(handler=tenant_suspension)

    listener = commands.add_parser("listen", help="a local receiver that prints each webhook and checks it")
    listener.add_argument("--host", default="127.0.0.1")
    listener.add_argument("--port", type=int, default=9000)
    listener.add_argument("--secret", help="whsec_... to check signatures with")
    listener.add_argument("--status", default="200", help="the status code to answer, or a list (500,500,200): "
                          "the Nth attempt of a webhook-id gets the Nth code, later ones the last")
    listener.set_defaults(handler=listen)

    sender = with_database(commands.add_parser("send", help="publish an event from the shell"))
    sender.add_argument("type")
    sender.add_argument("--data", required=True, help="the event's data, a JSON object")
    sender.add_argument("--subject")
    sender.add_argument("--tenant", help="the tenant (with --subject, needed only when several tenants use that "
                        "subject id)")
    sender.add_argument("--idempotency-key")
    sender.set_defaults(handler=send)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())

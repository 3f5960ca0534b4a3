"""Builds a running Verihook from settings: store, profiles, transport, dispatcher and service."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from verihook.config import Settings
from verihook.crypto import SecretBox, load_or_create_key_file
from verihook.delivery.auth import Authenticator
from verihook.delivery.destinations import Destinations
from verihook.delivery.dispatcher import Dispatcher
from verihook.delivery.guard import allowed_targets
from verihook.delivery.probe import EndpointProbe
from verihook.delivery.sender import Sender
from verihook.delivery.transport import Transport, create_transport
from verihook.metrics import Metrics
from verihook.model import Published
from verihook.operational import OperationalEvent
from verihook.profiles import ProfileRegistry, default_registry
from verihook.service import Service
from verihook.service.access import ADMIN_KEY_HASH, hash_api_key
from verihook.service.context import Context
from verihook.service.health import DispatcherState, Health
from verihook.service.news_sweep import NewsSweep
from verihook.service.retention import Retention
from verihook.store.base import Store
from verihook.store.sqlite import SqliteStore
from verihook.tracing import Tracing

ADMIN_KEY_PREFIX = "vh_admin_"
SIGNING_PURPOSE = "verihook dashboard sessions and portal links"
POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+asyncpg://")


class DispatcherProcesses(Protocol):
    """Dispatchers in processes of their own, delivering for this one (verihook.serving: `serve --dispatchers N`)."""

    async def run(self) -> None: ...
    async def stop(self) -> None: ...
    def wake(self) -> None: ...
    def problems(self) -> list[str]: ...
    def side_task_restarts(self) -> Mapping[str, int]: ...
    def stalled_sends(self) -> int: ...


@dataclass(slots=True)
class Runtime:
    settings: Settings
    store: Store
    transport: Transport
    dispatcher: Dispatcher
    service: Service
    metrics: Metrics
    dispatcher_processes: DispatcherProcesses | None = None

    async def ensure_admin_key(self) -> str | None:
        """Make an admin key when none is configured or stored; returns it (to print once) if it made one.

        Processes starting at once on one database race to store theirs: the first stored wins, and the others
        take its hash and return None (they print nothing).
        """
        ctx = self.service.ctx
        if ctx.admin_key_hash is not None:
            return None
        admin_key = ADMIN_KEY_PREFIX + secrets.token_urlsafe(32)
        made = hash_api_key(admin_key)
        ctx.admin_key_hash = await self.store.put_meta_if_absent(ADMIN_KEY_HASH, made)
        return admin_key if ctx.admin_key_hash == made else None

    def deliver_through(self, processes: DispatcherProcesses) -> None:
        """Deliver through dispatcher processes instead of this process's own dispatcher: publishing wakes them,
        and readiness and metrics report them."""
        self.dispatcher_processes = processes
        self.service.ctx.wake_dispatcher = processes.wake
        self.service.health.watch(DispatcherState(problems=processes.problems,
                                                  side_task_restarts=processes.side_task_restarts,
                                                  stalled_sends=processes.stalled_sends))

    async def run_dispatcher(self) -> None:
        """Run the dispatcher (or the dispatcher processes) until stopped, woken by the store when another process
        makes work due."""
        await (self.dispatcher_processes or self.dispatcher).run()

    async def stop_dispatcher(self) -> None:
        await self.dispatcher.stop()
        if self.dispatcher_processes is not None:
            await self.dispatcher_processes.stop()

    async def close(self) -> None:
        await self.stop_dispatcher()
        await self.transport.aclose()
        await self.store.close()
        self.service.ctx.tracing.shutdown()


def secret_box(settings: Settings) -> SecretBox:
    if settings.secret_key:
        try:
            return SecretBox(settings.secret_key)
        except ValueError as error:
            raise SystemExit(str(error)) from error
    path = settings.sqlite_path
    if path is None:
        raise SystemExit("VERIHOOK_SECRET_KEY must be set when the database is not an SQLite file")
    key_file = path.with_name(path.name + ".key")
    key, created = load_or_create_key_file(key_file)
    if created:
        print(f"verihook: made a secret key in {key_file} (set VERIHOOK_SECRET_KEY to use your own)",
              file=sys.stderr)
    return SecretBox(key)


def open_store(settings: Settings) -> Store:
    url = settings.database_url
    if url.startswith(POSTGRES_SCHEMES):
        from verihook.store.postgres import PostgresStore

        return PostgresStore(url, secret_box(settings))
    path = settings.sqlite_path
    if path is None:
        raise SystemExit(f"unsupported database URL {url!r}; use sqlite:///path or postgresql://...")
    return SqliteStore(path, secret_box(settings))


async def build_runtime(settings: Settings, registry: ProfileRegistry | None = None,
                        transport: Transport | None = None) -> Runtime:
    """Everything `settings` describe; `transport` replaces the one they name (tests hand in their own)."""
    registry = registry or default_registry()
    allowed = allowed_targets(settings.allowed_targets)  # a bad entry stops the start, naming it
    store = open_store(settings)
    await store.migrate()
    if transport is None:
        transport = create_transport(settings.transport, allow_private_targets=settings.allow_private_targets,
                                     ca_file=settings.ca_file, allowed_targets=allowed)
    destinations = Destinations(store, registry)
    metrics = Metrics(settings.metrics_dir)
    tracing = Tracing.start(propagate=settings.propagate_trace, otlp_endpoint=settings.otlp_endpoint,
                            service_name=settings.otel_service_name)
    sender = Sender(transport, Authenticator(transport, metrics=metrics), tracing=tracing)
    retention = Retention(store, settings.retention_days, settings.retention_every_s, metrics=metrics)

    async def publish_news(news: Sequence[OperationalEvent]) -> list[Published]:
        return await service.events.publish_operational(news)  # the service is built below, before any sweep

    news_sweep = NewsSweep(store, publish_news)
    dispatcher = Dispatcher(store, sender, destinations, settings.dispatcher, metrics, listen=store.listen_for_work,
                            side_tasks={"verihook-retention": retention.run, "verihook-news-sweep": news_sweep.run})
    admin_key_hash = hash_api_key(settings.admin_key) if settings.admin_key else await store.get_meta(ADMIN_KEY_HASH)
    ctx = Context(store=store, registry=registry, settings=settings, admin_key_hash=admin_key_hash,
                  wake_dispatcher=dispatcher.wake, signing_key=secret_box(settings).derive(SIGNING_PURPOSE),
                  metrics=metrics, tracing=tracing)
    health = Health(store, metrics, ctx.clock, settings.stall_after_s, DispatcherState(
        problems=dispatcher.problems, side_task_restarts=lambda: dispatcher.supervisor.restarts,
        stalled_sends=lambda: dispatcher.stalled_sends))
    service = Service(ctx, EndpointProbe(sender, destinations, ctx.clock), health)
    dispatcher.publish_operational_with(service.events.publish_operational)
    return Runtime(settings, store, transport, dispatcher, service, metrics)

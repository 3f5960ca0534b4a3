"""Settings, read from the environment by `Settings.from_env()`; nothing is built at import.

Every environment variable Verihook reads is read here. Two libraries also read their own: prometheus-client reads
PROMETHEUS_MULTIPROC_DIR when it is imported (so it must be set before the process starts), and the OpenTelemetry
SDK reads the OTEL_* variables (exporter endpoint and headers, sampler, batching) when tracing starts.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///verihook.db"
TRANSPORTS = ("pyreqwest", "aiohttp")
# Store and HTTP client threads hand results back to the event loop many times a second; with Python's default
# 5 ms switch interval each hand-back can wait that long for the GIL (bench/RESULTS.md: p99 67 -> 23 ms).
DEFAULT_SWITCH_INTERVAL_S = 0.0005
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own name for it
OTLP_ENDPOINT_ENVS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
RETENTION_DAYS_RANGE = (1, 3650)  # VERIHOOK_RETENTION_DAYS and a tenant's retention_days


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    admin_key: str | None = None
    secret_key: str | None = None
    allow_private_targets: bool = False
    # CIDRs and host names the target guard lets through although private (VERIHOOK_ALLOWED_TARGETS; checked when
    # the runtime is built, by delivery.guard.AllowedTargets)
    allowed_targets: tuple[str, ...] = ()
    ca_file: str | None = None
    max_body_bytes: int = 1024 * 1024
    transport: str = "pyreqwest"  # the outbound HTTP client (VERIHOOK_TRANSPORT): pyreqwest, or aiohttp
    switch_interval_s: float = DEFAULT_SWITCH_INTERVAL_S  # sys.setswitchinterval for serve, api and worker
    stall_after_s: float = 60.0  # /readyz answers 503 once a due delivery has waited this long; 0: never
    log_format: str = "text"  # "json": one JSON object a line (verihook.logs)
    propagate_trace: bool = False  # send a W3C traceparent to receivers (verihook.tracing)
    # origins whose pages may show the dashboard in an iframe (VERIHOOK_PORTAL_FRAME_ANCESTORS); empty: none but
    # the dashboard's own site (see docs/API.md "Dashboard")
    portal_frame_ancestors: tuple[str, ...] = ()
    # PROMETHEUS_MULTIPROC_DIR: every process's figures kept there and summed at scrape time (verihook.metrics)
    metrics_dir: str | None = None
    # OTEL_EXPORTER_OTLP_ENDPOINT, else OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: spans are exported (verihook.tracing)
    otlp_endpoint: str | None = None
    otel_service_name: str | None = None  # OTEL_SERVICE_NAME; unset: the spans' service is "verihook"
    retention_days: int = 30  # finished events older than this are deleted (a tenant's retention_days overrides it)
    retention_every_s: float = 600.0  # how often a dispatcher's retention task looks for them
    # dispatcher processes `serve` runs beside its API (VERIHOOK_DISPATCHERS); 0: one process, dispatcher inside
    dispatchers: int = field(default_factory=lambda: os.cpu_count() or 1)
    dispatcher: DispatcherSettings = field(default_factory=lambda: DispatcherSettings())

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            database_url=env.get("VERIHOOK_DATABASE_URL") or DEFAULT_DATABASE_URL,
            admin_key=env.get("VERIHOOK_ADMIN_KEY") or None,
            secret_key=env.get("VERIHOOK_SECRET_KEY") or None,
            allow_private_targets=env.get("VERIHOOK_ALLOW_PRIVATE_TARGETS", "") in ("1", "true", "yes"),
            allowed_targets=tuple(env.get("VERIHOOK_ALLOWED_TARGETS", "").replace(",", " ").split()),
            ca_file=env.get("VERIHOOK_CA_FILE") or None,
            transport=_transport(env.get("VERIHOOK_TRANSPORT", "")),
            switch_interval_s=_number(env, "VERIHOOK_SWITCH_INTERVAL_S", DEFAULT_SWITCH_INTERVAL_S),
            stall_after_s=_number(env, "VERIHOOK_STALL_AFTER_S", 60.0),
            log_format=(env.get("VERIHOOK_LOG_FORMAT") or "text").strip().lower(),
            propagate_trace=env.get("VERIHOOK_PROPAGATE_TRACE", "") in ("1", "true", "yes"),
            portal_frame_ancestors=frame_ancestors(env.get("VERIHOOK_PORTAL_FRAME_ANCESTORS", "")),
            metrics_dir=env.get(METRICS_DIR_ENV) or env.get(METRICS_DIR_ENV.lower()) or None,
            otlp_endpoint=next((env[name] for name in OTLP_ENDPOINT_ENVS if env.get(name)), None),
            otel_service_name=env.get("OTEL_SERVICE_NAME") or None,
            retention_days=_retention_days(env.get("VERIHOOK_RETENTION_DAYS", "")),
            retention_every_s=_number(env, "VERIHOOK_RETENTION_EVERY_S", 600.0),
            dispatchers=dispatcher_count(env.get("VERIHOOK_DISPATCHERS", ""), "VERIHOOK_DISPATCHERS"),
            dispatcher=DispatcherSettings.from_env(env),
        )

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def sqlite_path(self) -> Path | None:
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return None


@dataclass(frozen=True, slots=True)
class DispatcherSettings:
    max_in_flight: int = 512  # deliveries being sent at once by one process
    per_endpoint_in_flight: int = 64  # deliveries being sent at once to one destination
    claim_batch: int = 512
    poll_interval_s: float = 1.0  # fallback when no wake-up arrives
    flush_interval_s: float = 0.02  # how long an outcome may wait to be written with others
    flush_batch: int = 1000

    @classmethod
    def from_env(cls, env: dict[str, str]) -> DispatcherSettings:
        def number(name: str, default: float) -> float:
            return _number(env, name, default)

        defaults = cls()
        return cls(
            max_in_flight=int(number("VERIHOOK_MAX_IN_FLIGHT", defaults.max_in_flight)),
            per_endpoint_in_flight=int(number("VERIHOOK_PER_ENDPOINT_IN_FLIGHT", defaults.per_endpoint_in_flight)),
            claim_batch=int(number("VERIHOOK_CLAIM_BATCH", defaults.claim_batch)),
            poll_interval_s=number("VERIHOOK_POLL_INTERVAL_S", defaults.poll_interval_s),
            flush_interval_s=number("VERIHOOK_FLUSH_INTERVAL_S", defaults.flush_interval_s),
            flush_batch=int(number("VERIHOOK_FLUSH_BATCH", defaults.flush_batch)),
        )


def _number(env: dict[str, str], name: str, default: float) -> float:
    value = env.get(name)
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {value!r}") from None


# an origin a CSP frame-ancestors source may name: scheme, host (its leftmost label may be `*`), optional port
_ORIGIN = re.compile(r"https?://(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def frame_ancestors(value: str) -> tuple[str, ...]:
    """The origins of a space- or comma-separated list, each checked (they go into a Content-Security-Policy)."""
    origins = []
    for item in value.replace(",", " ").split():
        origin = item.removesuffix("/")
        if not _ORIGIN.fullmatch(origin):
            raise ValueError(f"VERIHOOK_PORTAL_FRAME_ANCESTORS: {item!r} is not an origin such as"
                             " https://platform.example (scheme, host, optional port; no path)")
        origins.append(origin.lower())
    return tuple(dict.fromkeys(origins))


def _retention_days(value: str) -> int:
    if not value.strip():
        return 30
    low, high = RETENTION_DAYS_RANGE
    if not (value.strip().isascii() and value.strip().isdigit()) or not low <= int(value) <= high:
        raise ValueError(f"VERIHOOK_RETENTION_DAYS must be a whole number of days from {low} to {high}, not {value!r}")
    return int(value)
def dispatcher_count(value: str, name: str = "--dispatchers") -> int:
    """A count of dispatcher processes: a whole number from 0 up; empty: one per core."""
    if not value.strip():
        return os.cpu_count() or 1
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise ValueError(f"{name} must be a whole number of processes (0 or more), not {value!r}")
    return count


def _transport(value: str) -> str:
    kind = value.strip().lower() or "pyreqwest"
    if kind not in TRANSPORTS:
        raise ValueError(f"VERIHOOK_TRANSPORT must be 'pyreqwest' or 'aiohttp', not {value!r}")
    return kind


def named_metrics_dir() -> str | None:
    """The metrics directory this process's environment names (prometheus-client reads it at import), or None."""
    return os.environ.get(METRICS_DIR_ENV) or os.environ.get(METRICS_DIR_ENV.lower()) or None


def name_metrics_dir(path: str) -> None:
    """Name `path` as the metrics directory in this process's environment, which its child processes inherit."""
    os.environ[METRICS_DIR_ENV] = path


def child_environment(**overrides: str) -> dict[str, str]:
    """This process's environment with `overrides`: what a child process of Verihook's own starts with."""
    return {**os.environ, **overrides}

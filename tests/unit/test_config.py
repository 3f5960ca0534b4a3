"""Configuration in one place: every variable Verihook reads is read by `Settings.from_env`, nothing at import."""

from __future__ import annotations

import ast
from pathlib import Path

from verihook.config import Settings

SRC = Path(__file__).resolve().parents[2] / "src" / "verihook"


def test_metrics_and_tracing_variables_are_settings() -> None:
    settings = Settings.from_env({"PROMETHEUS_MULTIPROC_DIR": "/run/metrics",
                                  "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces",
                                  "OTEL_SERVICE_NAME": "vh-worker"})
    assert (settings.metrics_dir, settings.otlp_endpoint, settings.otel_service_name) == (
        "/run/metrics", "http://collector:4318/v1/traces", "vh-worker")
    assert Settings.from_env({"prometheus_multiproc_dir": "/run/lower"}).metrics_dir == "/run/lower"
    both = Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318",
                              "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:4318/v1/traces"})
    assert both.otlp_endpoint == "http://a:4318"
    empty = Settings.from_env({"PROMETHEUS_MULTIPROC_DIR": "", "OTEL_EXPORTER_OTLP_ENDPOINT": ""})
    assert (empty.metrics_dir, empty.otlp_endpoint, empty.otel_service_name) == (None, None, None)


def test_no_module_but_config_reads_the_environment() -> None:
    """`os.environ` and `os.getenv` appear in code only in config.py (the receiver toolkit's docstrings show a
    customer's own app reading its secret; docstrings are not code)."""
    readers = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "config.py" and path.parent == SRC:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            reads = (isinstance(node, ast.Attribute) and node.attr in ("environ", "environb", "getenv")
                     and isinstance(node.value, ast.Name) and node.value.id == "os")
            imports = (isinstance(node, ast.ImportFrom) and node.module == "os"
                       and any(alias.name in ("environ", "environb", "getenv") for alias in node.names))
            if reads or imports:
                readers.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert readers == []


def test_the_hung_dispatcher_limit_is_a_setting() -> None:
    assert Settings.from_env({}).dispatcher_stall_s == 30.0
    assert Settings.from_env({"VERIHOOK_DISPATCHER_STALL_S": "2.5"}).dispatcher_stall_s == 2.5
    assert Settings.from_env({"VERIHOOK_DISPATCHER_STALL_S": "0"}).dispatcher_stall_s == 0.0  # never

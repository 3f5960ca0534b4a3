"""The browser tests without chromium: they fail, saying what is missing, under CI and under scripts/test, and are
skipped only for a developer running them elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ONE_BROWSER_TEST = "tests/browser/test_portal_ui.py::test_portal_link_opens_once"


def run_without_chromium(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "VERIHOOK_REQUIRE_BROWSER")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", ONE_BROWSER_TEST],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**clean, "VERIHOOK_CHROMIUM": str(tmp_path / "no-chromium"), **env})


@pytest.mark.parametrize("env", [{"CI": "true"}, {"VERIHOOK_REQUIRE_BROWSER": "1"}], ids=["ci", "scripts-test"])
def test_a_missing_chromium_fails_the_browser_tests_under_ci_and_scripts_test(tmp_path: Path,
                                                                             env: dict[str, str]) -> None:
    run = run_without_chromium(tmp_path, **env)
    assert run.returncode == 1, run.stdout
    assert "1 error" in run.stdout and "no-chromium is missing" in run.stdout, run.stdout  # an error at set-up


def test_a_developer_without_chromium_sees_them_skipped(tmp_path: Path) -> None:
    run = run_without_chromium(tmp_path)
    assert run.returncode == 0, run.stdout
    assert "1 skipped" in run.stdout and "no-chromium is missing" in run.stdout, run.stdout


def test_scripts_test_requires_the_browser() -> None:
    assert "export VERIHOOK_REQUIRE_BROWSER=1" in (ROOT / "scripts/test").read_text()

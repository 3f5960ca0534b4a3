"""A real Verihook (SQLite), real receivers and Debian's chromium driven by Playwright.

Chromium comes from Debian (`apt-get install chromium`, done by scripts/test); Playwright never downloads a
browser here. Without it every browser test fails, saying so, under CI (`CI=true`) and under scripts/test
(`VERIHOOK_REQUIRE_BROWSER=1`); only a developer running them elsewhere sees them skipped. VERIHOOK_CHROMIUM
names another browser binary (a test names a missing one).
Set VERIHOOK_SCREENSHOTS=docs/screenshots to keep the screenshots the tests take.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.support.api import Api
from tests.support.server import ADMIN_KEY, Running, running_verihook, settings_for_tests

CHROMIUM = os.environ.get("VERIHOOK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-component-update",
                 "--disable-sync"]



def browser_required() -> bool:
    """Whether a missing chromium fails the browser tests (CI, scripts/test) rather than skipping them."""
    return (os.environ.get("CI", "").lower() in ("true", "1", "yes")
            or os.environ.get("VERIHOOK_REQUIRE_BROWSER", "") == "1")


@pytest.fixture(autouse=True)
def chromium_present() -> None:
    if Path(CHROMIUM).exists():
        return
    missing = f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install chromium`, as scripts/test does)"
    if browser_required():
        pytest.fail(missing, pytrace=False)
    pytest.skip(missing)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def ui_server(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_verihook(settings_for_tests(f"sqlite:///{tmp_path / 'verihook.db'}")) as running:
        yield running


@pytest.fixture
async def admin_api(ui_server: Running) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(ui_server.base_url, ADMIN_KEY, session)


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    yield context
    await context.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    target = Path(os.environ.get("VERIHOOK_SCREENSHOTS") or tmp_path / "screenshots")
    target.mkdir(parents=True, exist_ok=True)
    return target


async def log_in(page: Page, base_url: str, api_key: str) -> None:
    await page.goto(f"{base_url}/ui/login")
    await page.get_by_label("API key").fill(api_key)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"{base_url}/ui/")

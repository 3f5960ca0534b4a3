"""A side task's loop: one pass now and then one every `every_s`, until cancelled, through a store that may be away.

A pass that finds the store unavailable is logged and tried again at the next turn; any other error is a bug and
ends the task (the dispatcher's supervisor logs it and starts the task again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from verihook.store.errors import is_unavailable

T = TypeVar("T")


async def every(every_s: float, one_pass: Callable[[], Awaitable[T]], done: Callable[[T], None],
                log: logging.Logger, name: str) -> None:
    """Run `one_pass` now and then every `every_s`; `done` gets what each pass that reached the store answered."""
    while True:
        try:
            result = await one_pass()
        except Exception as error:
            if not is_unavailable(error):
                raise
            log.warning("%s: the database cannot be reached; trying again in %.0f s", name, every_s)
        else:
            done(result)
        await asyncio.sleep(every_s)

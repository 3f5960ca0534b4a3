"""An Attestr webhook receiver (FastAPI): check the Basic token, answer 200 at once, work afterwards.

    ATTESTR_TOKEN=... python examples/attestr_receiver.py      # listens on :9000

Attestr sends each event once and waits 5 s for a 200: acknowledge first, then process (a background task).
Anything missed is pulled with `GET /v1/subjects/{id}`.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from fastapi import BackgroundTasks, Depends, FastAPI, Request, Response

from verihook.receiver.fastapi import BasicTokenRequired


def make_app(token: str) -> FastAPI:
    app = FastAPI()
    app.state.queue = asyncio.Queue()  # processed by a worker of yours, after the 200

    @app.post("/attestr", dependencies=[Depends(BasicTokenRequired(token))])
    async def webhook(request: Request, later: BackgroundTasks) -> Response:
        payload: dict[str, Any] = await request.json()
        later.add_task(app.state.queue.put_nowait, payload)
        return Response(status_code=200)

    return app


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(make_app(os.environ["ATTESTR_TOKEN"]), port=int(os.environ.get("PORT", "9000")))

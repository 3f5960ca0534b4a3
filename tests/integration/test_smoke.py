from __future__ import annotations

from tests.support.api import Api
from tests.support.receivers import Receiver


async def test_an_event_reaches_its_endpoint(api: Api, receiver: Receiver) -> None:
    await api.endpoint(receiver.url + "/hook")
    event = await api.publish("order.created", {"n": 1})
    [request] = await receiver.wait_for(1)
    assert request.json()["data"] == {"n": 1}
    done = await api.wait_event(event["id"])
    assert done["deliveries"][0]["attempts"][0]["status_code"] == 200

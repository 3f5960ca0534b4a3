"""A tenant's `retention_days`: set at creation or by PATCH, by the admin key or an ancestor's (not the tenant's own),
1 to 3650 days or null (VERIHOOK_RETENTION_DAYS); anything else is a 422 naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api
from verihook.config import Settings

BAD_DAYS: list[Any] = [0, -1, 3651, 10**30, 1.5, "30", True, [30], {"days": 30}]


async def test_retention_days_at_creation_and_by_patch(admin: Api) -> None:
    made = await admin.tenant("reseller", retention_days=7)
    assert made["retention_days"] == 7
    assert (await admin.get(f"/v1/tenants/{made['id']}")).ok()["retention_days"] == 7
    parent = admin.as_key(made["api_key"])
    child = (await parent.post("/v1/tenants", {"name": "portal", "uid": "portal-1"})).ok()
    assert child["retention_days"] is None  # the default; not inherited

    # an ancestor sets its child's (by id or uid); the admin any tenant's; null goes back to the default
    assert (await parent.patch("/v1/tenants/portal-1", {"retention_days": 3650})).ok()["retention_days"] == 3650
    assert (await parent.get(f"/v1/tenants/{child['id']}")).ok()["retention_days"] == 3650
    assert (await admin.patch(f"/v1/tenants/{child['id']}", {"retention_days": 1})).ok()["retention_days"] == 1
    assert (await admin.patch(f"/v1/tenants/{made['id']}", {"retention_days": None})).ok()["retention_days"] is None
    listed = {t["id"]: t["retention_days"] for t in (await admin.get("/v1/tenants")).ok()["data"]}
    assert listed == {made["id"]: None, child["id"]: 1}

    # not the tenant's own key, nor anyone who cannot see the tenant
    own = await admin.as_key(child["api_key"]).patch(f"/v1/tenants/{child['id']}", {"retention_days": 30})
    assert own.status == 403 and own.content_type.startswith("application/problem+json")
    stranger = await admin.as_new_tenant("stranger")
    assert (await stranger.patch(f"/v1/tenants/{child['id']}", {"retention_days": 30})).status == 404
    assert (await admin.get(f"/v1/tenants/{child['id']}")).ok()["retention_days"] == 1


@pytest.mark.parametrize("days", BAD_DAYS)
async def test_retention_days_outside_1_to_3650_whole_days_is_refused(admin: Api, days: Any) -> None:
    created = await admin.post("/v1/tenants", {"name": "x", "retention_days": days})
    assert created.status == 422 and created.body["field"] == "retention_days", created.body
    made = await admin.tenant("y")
    patched = await admin.patch(f"/v1/tenants/{made['id']}", {"retention_days": days})
    assert patched.status == 422 and patched.body["field"] == "retention_days", patched.body
    assert (await admin.get(f"/v1/tenants/{made['id']}")).ok()["retention_days"] is None
    missing = await admin.patch(f"/v1/tenants/{made['id']}", {})
    assert missing.status == 422 and missing.body["field"] == "retention_days"


def test_verihook_retention_days_is_read_and_checked() -> None:
    assert Settings.from_env({}).retention_days == 30
    assert Settings.from_env({"VERIHOOK_RETENTION_DAYS": "7"}).retention_days == 7
    assert Settings.from_env({"VERIHOOK_RETENTION_DAYS": "3650"}).retention_days == 3650
    for bad in ("0", "3651", "-1", "1.5", "thirty", "1e3"):
        with pytest.raises(ValueError, match="VERIHOOK_RETENTION_DAYS"):
            Settings.from_env({"VERIHOOK_RETENTION_DAYS": bad})

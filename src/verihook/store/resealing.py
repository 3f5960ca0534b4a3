"""Sealing every stored secret again under the first key of VERIHOOK_SECRET_KEY (`verihook reseal`).

What is sealed: a tenant's signing secret; an endpoint's credentials (token, password, client secret) and signing
secrets (current and rotated-out); a delivery's first request (profiles that retry it byte for byte). Each table is
read in batches by id and each batch written in one transaction; a row changed since it was read is left as the
changing process sealed it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from verihook.crypto import SecretBox
from verihook.store import queries as q
from verihook.store.codec import SECRET_AUTH_FIELDS, EndpointCodec
from verihook.store.database import Database, Tx

BATCH = 500

Reseal = Callable[[Tx, Any], Awaitable[int]]  # writes one row sealed again; answers how many values it sealed


async def reseal_all(db: Database, box: SecretBox) -> int:
    """How many sealed values were sealed again."""
    codec = EndpointCodec(box)

    async def tenant(tx: Tx, row: Any) -> int:
        changed = await tx.execute(q.RESEAL_TENANT_SECRET, id=row[0], old=row[1], new=box.reseal(row[1]))
        return changed

    async def endpoint(tx: Tx, row: Any) -> int:
        auth, secrets = codec.open_auth(row[1]), codec.open_secrets(row[2])
        changed = await tx.execute(q.RESEAL_ENDPOINT_SECRETS, id=row[0], old_auth=row[1], old_secrets=row[2],
                                   auth=codec.seal_auth(auth), secrets=codec.seal_secrets(secrets))
        sealed = len(secrets) + sum(1 for k, v in auth.items() if k in SECRET_AUTH_FIELDS and isinstance(v, str))
        return sealed if changed else 0

    async def first_request(tx: Tx, row: Any) -> int:
        changed = await tx.execute(q.RESEAL_FIRST_REQUEST, id=row[0], old=row[1], new=box.reseal(row[1]))
        return changed

    return (await _each(db, q.SEALED_TENANT_SECRETS, tenant) + await _each(db, q.SEALED_ENDPOINT_SECRETS, endpoint)
            + await _each(db, q.SEALED_FIRST_REQUESTS, first_request))


async def _each(db: Database, select: str, reseal: Reseal) -> int:
    count, after = 0, ""
    while True:
        rows: Sequence[Any] = await db.fetch_all(select, after=after, limit=BATCH)
        if not rows:
            return count

        async def unit(tx: Tx, rows: Sequence[Any] = rows) -> int:
            count = 0
            for row in rows:
                try:
                    count += await reseal(tx, row)
                except ValueError as error:  # a value no key opens: nothing of the batch is written
                    raise ValueError(f"{row[0]}: {error}; keep the key it was sealed with in the list") from error
            return count

        count += await db.write(unit)
        after = rows[-1][0]

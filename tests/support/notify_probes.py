"""Waiting until notify has merged a customer's profile event."""

import httpx

from tests.support.polling import eventually


async def profile_merged(
    client: httpx.AsyncClient, customer: str, consent: dict[str, bool]
) -> None:
    """Notify's customer row can exist before its profile event is merged: a lifecycle change
    (the entry into acquisition on first contact) comes on another topic, read by another
    group. The consent the profile event carried shows that the event itself was merged."""

    async def probe() -> bool:
        resp = await client.get(f"/v1/customers/{customer}/preferences")
        return resp.status_code == 200 and resp.json()["consent"] == consent

    await eventually(probe, timeout=60, what=f"notify to merge the profile of {customer}")

"""Waiting until notify has merged a customer's profile event or score update."""

import re

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


async def clv_band_shown(
    client: httpx.AsyncClient,
    customer: str,
    band: str,
    preview: tuple[str, str] = ("new_customer", "value_report"),
) -> None:
    """Waits until notify has merged a score update: the customer's CLV band shows in the
    preview of a step whose template prints it (playbook, step). Scores and lifecycle changes
    come on two topics, read by two groups; in production the CLV is there long before a tier
    moves."""
    playbook, step = preview
    shown = re.compile(rf"band:? {band}\b")

    async def probe() -> bool:
        url = f"/v1/playbooks/{playbook}/preview?customer_id={customer}"
        steps = (await client.post(url)).json()["steps"]
        return bool(shown.search(next(s for s in steps if s["step"] == step)["body"]))

    await eventually(probe, timeout=60, what=f"notify to show {customer}'s CLV band {band}")

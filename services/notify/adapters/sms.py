"""SMS through an HTTP provider API.

POST {base_url}/v1/messages with `Authorization: Bearer <token>`, `Idempotency-Key: <message id>`
and JSON `{"to": "+8613800000000", "from": "<sender id>", "text": "...",
"reference": "<message id>"}`; any 2xx accepts it (the body is kept as the provider's answer).
"""

import httpx

from .channels import DeliveryError, Outgoing, http_failure


class HttpSms:
    def __init__(self, *, base_url: str, token: str, sender_id: str, timeout: float) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, headers={"Authorization": f"Bearer {token}"}
        )
        self._sender_id = sender_id

    async def send(self, message: Outgoing) -> str:
        payload = {
            "to": message.to,
            "from": self._sender_id,
            "text": f"{message.subject}\n{message.body}" if message.subject else message.body,
            "reference": message.message_id,
        }
        try:
            resp = await self._client.post(
                "/v1/messages", json=payload, headers={"Idempotency-Key": message.message_id}
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}", transient=True) from exc
        if resp.is_success:
            return f"HTTP {resp.status_code}: {resp.text[:500]}"
        raise http_failure(resp.status_code, resp.text)

    async def close(self) -> None:
        await self._client.aclose()

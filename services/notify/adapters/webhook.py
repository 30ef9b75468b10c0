"""Webhooks (human tasks, CRM): signed JSON, Stripe style (see domain/signature.py)."""

import httpx
import orjson

from services.notify.domain.signature import SIGNATURE_HEADER, sign

from .channels import DeliveryError, Outgoing, http_failure


class SignedWebhook:
    def __init__(self, *, url: str, secret: str, timeout: float) -> None:
        self._url = url
        self._secret = secret
        self._client = httpx.AsyncClient(timeout=timeout)

    @staticmethod
    def payload(message: Outgoing) -> bytes:
        return orjson.dumps(
            {
                "type": "clm.notify.task",
                "message_id": message.message_id,
                "customer_id": message.customer_id,
                "playbook": message.playbook,
                "step": message.step,
                "title": message.subject,
                "body": message.body,
                "locale": message.locale,
                **message.details,
            }
        )

    async def send(self, message: Outgoing) -> str:
        body = self.payload(message)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self._secret, body),
            "Idempotency-Key": message.message_id,
        }
        try:
            resp = await self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}", transient=True) from exc
        if resp.is_success:
            return f"HTTP {resp.status_code}: {resp.text[:500]}"
        raise http_failure(resp.status_code, resp.text)

    async def close(self) -> None:
        await self._client.aclose()

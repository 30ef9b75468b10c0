"""One-click unsubscribe links (RFC 8058): a signed token names the customer and the channel.

Token: `<base64url(customer_id)>.<channel>.<hex HMAC-SHA256 over "unsubscribe:<channel>:<id>">`.
No expiry: an unsubscribe link in an old email must still work (RFC 8058, section 3.1).
"""

import base64
import binascii
import hashlib
import hmac

_PURPOSE = "unsubscribe"


class InvalidUnsubscribeToken(ValueError):
    """The token was not made with our secret, or is damaged."""


def _digest(secret: str, customer_id: str, channel: str) -> str:
    signed = f"{_PURPOSE}:{channel}:{customer_id}".encode()
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def unsubscribe_token(secret: str, customer_id: str, channel: str) -> str:
    who = base64.urlsafe_b64encode(customer_id.encode()).decode().rstrip("=")
    return f"{who}.{channel}.{_digest(secret, customer_id, channel)}"


def read_unsubscribe_token(secret: str, token: str) -> tuple[str, str]:
    """The (customer id, channel) a token opts out, or InvalidUnsubscribeToken."""
    try:
        who, channel, digest = token.split(".")
        customer_id = base64.urlsafe_b64decode(who + "=" * (-len(who) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidUnsubscribeToken("malformed unsubscribe token") from exc
    if not hmac.compare_digest(digest, _digest(secret, customer_id, channel)):
        raise InvalidUnsubscribeToken("unsubscribe token not signed by this service")
    return customer_id, channel


def unsubscribe_url(public_url: str, secret: str, customer_id: str, channel: str) -> str:
    return (
        f"{public_url.rstrip('/')}/v1/unsubscribe/{unsubscribe_token(secret, customer_id, channel)}"
    )

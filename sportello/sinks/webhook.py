"""The staff alerts' webhook: one signed JSON POST per alert delivery.

The body is the alert as JSON (`ALERT_WEBHOOK_FORMAT=json`, the default) or a Slack-compatible
`{"text": ...}` (`slack`). Every request carries:

- `X-Sportello-Delivery: <id>`: the alert's delivery id, the same on every retry of the same alert, so
  the receiver can drop a delivery it already accepted (exactly once, across crashes and lost answers);
- `X-Sportello-Signature: sha256=<hex>`: HMAC-SHA256 of the exact body bytes with `ALERT_WEBHOOK_SECRET`
  (absent without a secret), which the receiver recomputes and compares in constant time (`verify`).

Only a 2xx answer is a delivery; anything else (a 3xx, 4xx, 5xx, a timeout, a refused connection) is a
`WebhookError` and the alert is retried later with backoff.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx

SIGNATURE_HEADER = "X-Sportello-Signature"
DELIVERY_HEADER = "X-Sportello-Delivery"
FORMATS = ("json", "slack")


class WebhookError(Exception):
    """The receiver did not accept the delivery (it will be retried)."""


def signature(secret: str, body: bytes) -> str:
    """The `X-Sportello-Signature` value of `body`: `sha256=<hex HMAC-SHA256>`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` is the signature of `body` with `secret` (what a receiver checks)."""
    return bool(header) and hmac.compare_digest(signature(secret, body), header)


def body(payload: dict, fmt: str = "json") -> bytes:
    """The request body of an alert: the payload as JSON, or Slack's `{"text": payload["text"]}`."""
    data = {"text": payload.get("text", "")} if fmt == "slack" else payload
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class WebhookSender:
    """POSTs alerts to one URL (`ALERT_WEBHOOK_URL`)."""

    def __init__(self, url: str, secret: str = "", fmt: str = "json", timeout_s: float = 10.0):
        self.url = url
        self.secret = secret
        self.fmt = fmt if fmt in FORMATS else "json"
        self.timeout_s = timeout_s

    def send(self, delivery_id: str, payload: dict) -> int:
        """Deliver one alert; return the receiver's 2xx status, else raise WebhookError."""
        data = body(payload, self.fmt)
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: delivery_id, "User-Agent": "Sportello-Alerts"}
        if self.secret:
            headers[SIGNATURE_HEADER] = signature(self.secret, data)
        try:
            response = httpx.post(self.url, content=data, headers=headers, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            raise WebhookError(f"{type(exc).__name__}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise WebhookError(f"HTTP {response.status_code}: {response.text[:200]}")
        return response.status_code

"""Direct clients for the WeCom (企业微信), DingTalk (钉钉) and Feishu (飞书) group robots.

Written by hand rather than through apprise (which the console uses for e-mail) because:

- apprise's robot plugins post to the vendor's host, fixed in the plugin class (`notify_url`),
  so they cannot be pointed at a company's gateway or at a test server; here the robot's
  webhook URL is the channel's target, whatever host it names;
- apprise's WeCom and DingTalk plugins take HTTP 200 as success, but these vendors answer a
  refused message (bad signature, rate limit, wrong key) with 200 and a non-zero `errcode`:
  the delivery would be recorded as sent when nobody got it;
- apprise sends WeCom plain text only and cannot sign Feishu; the card with the snapshot and
  a button that opens the case is what a patrol acts on from a phone.

Each vendor is one small function: build the body, sign it when a secret is set, post, read
the vendor's own error code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from urllib.parse import quote

from grid_console.notify.http import HttpReply, SendResult, excerpt, post_json
from grid_console.notify.message import Message

_WECOM_MAX_BYTES = 4096  # WeCom refuses longer markdown content


def send_wecom(url: str, message: Message, timeout_s: float) -> SendResult:
    content = message.markdown(images=False)  # WeCom markdown shows no pictures: a link then
    if len(content.encode("utf-8")) > _WECOM_MAX_BYTES:
        content = message.text()[: _WECOM_MAX_BYTES // 3]
    payload = {"msgtype": "markdown", "markdown": {"content": content}}
    return _vendor_result(post_json(url, payload, timeout_s), "errcode")


def send_dingtalk(
    url: str, secret: str | None, message: Message, now: datetime, timeout_s: float
) -> SendResult:
    # An action card: the markdown (with the picture) and one button that opens the case.
    payload = {
        "msgtype": "actionCard",
        "actionCard": {
            "title": message.title_zh,
            "text": message.markdown(images=True),
            "btnOrientation": "0",
            "singleTitle": "打开案件 Open the case",
            "singleURL": message.case_url,
        },
    }
    if secret:
        timestamp, sign = dingtalk_signature(secret, now)
        url += ("&" if "?" in url else "?") + f"timestamp={timestamp}&sign={quote(sign, safe='')}"
    return _vendor_result(post_json(url, payload, timeout_s), "errcode")


def dingtalk_signature(secret: str, now: datetime) -> tuple[str, str]:
    """DingTalk's robot signature: base64(HMAC-SHA256(secret, "{ms}\\n{secret}"))."""
    timestamp = str(int(now.timestamp() * 1000))
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
    return timestamp, base64.b64encode(digest.digest()).decode()


def send_feishu(
    url: str, secret: str | None, message: Message, now: datetime, timeout_s: float,
    *, urgent: bool,
) -> SendResult:  # fmt: skip
    # Feishu cards take pictures only as uploaded image keys, not URLs: the snapshot is a link.
    payload: dict[str, object] = {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {
                "title": {"tag": "plain_text", "content": message.title},
                "template": "red" if urgent else "orange",
            },
            "elements": [
                {"tag": "div", "text": {"tag": "lark_md",
                                        "content": message.markdown(images=False, heading=False)}},
                {"tag": "action", "actions": [{
                    "tag": "button", "type": "primary", "url": message.case_url,
                    "text": {"tag": "plain_text", "content": "打开案件 Open the case"},
                }]},
            ],
        },
    }  # fmt: skip
    if secret:
        timestamp, sign = feishu_signature(secret, now)
        payload["timestamp"] = timestamp
        payload["sign"] = sign
    return _vendor_result(post_json(url, payload, timeout_s), "code")


def feishu_signature(secret: str, now: datetime) -> tuple[str, str]:
    """Feishu's bot signature: base64(HMAC-SHA256(key="{s}\\n{secret}", message=empty))."""
    timestamp = str(int(now.timestamp()))
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256)
    return timestamp, base64.b64encode(digest.digest()).decode()


def _vendor_result(reply: HttpReply | SendResult, code_field: str) -> SendResult:
    if isinstance(reply, SendResult):
        return reply
    if not 200 <= reply.status < 300:
        return SendResult(False, f"HTTP {reply.status}: {excerpt(reply.body)}", reply.status)
    answer = reply.json()
    if not isinstance(answer, dict):
        return SendResult(False, f"not the robot's JSON answer: {excerpt(reply.body)}",
                          reply.status)  # fmt: skip
    # Feishu's older endpoints answer StatusCode instead of code.
    code = answer.get(code_field, answer.get("StatusCode"))
    if code != 0:
        return SendResult(False, f"refused by the robot: {excerpt(reply.body)}", reply.status)
    return SendResult(True, excerpt(reply.body), reply.status)

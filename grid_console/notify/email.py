"""E-mail through apprise: it speaks SMTP, STARTTLS and implicit TLS, and builds the MIME parts
(HTML with the plain text as the alternative), which is not worth writing again.

The console's SMTP server is one apprise URL, configured once (`--smtp-url`), for example
`mailtos://USER:PASSWORD@smtp.example.com:465?from=grid@example.com` or, for a relay without
login or TLS, `mailto://relay.internal:25?from=grid@example.com`. The recipient's address is
added as `to=` per message; the URL's host is whatever it names, so tests point it at a local
aiosmtpd.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from grid_console.notify.http import SendResult
from grid_console.notify.message import Message


def check_smtp_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("mailto", "mailtos") or not parts.hostname:
        raise ValueError(f"--smtp-url {url!r}: use mailto://HOST[:PORT]?from=... or mailtos://")
    if not dict(parse_qsl(parts.query)).get("from"):
        raise ValueError("--smtp-url needs from=ADDRESS (the sender of the console's e-mail)")
    return url


def send_email(smtp_url: str | None, address: str, message: Message,
               timeout_s: float) -> SendResult:  # fmt: skip
    if not smtp_url:
        return SendResult(False, "no SMTP server configured (--smtp-url)")
    # Imported here: apprise loads all of its plugins on import (about 0.3 s), which every
    # `grid-console` command would pay for otherwise.
    import apprise  # noqa: PLC0415

    parts = urlsplit(smtp_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("to", "cto")]
    query += [("to", address), ("cto", str(max(1, round(timeout_s))))]  # cto: connect timeout
    url = urlunsplit(parts._replace(query=urlencode(query)))
    notifier = apprise.Apprise()
    if not notifier.add(url):
        return SendResult(False, "apprise refused the SMTP URL (check --smtp-url)")
    # apprise reports why a send failed only in its log (the SMTP reply at debug level):
    # capture it for the attempt's record, keeping the warnings and the exception lines only.
    with apprise.LogCapture(  # type: ignore[no-untyped-call]
        level=apprise.logging.DEBUG, fmt="%(levelname)s %(message)s"
    ) as log:
        ok = notifier.notify(
            body=message.html(), title=message.title, body_format=apprise.NotifyFormat.HTML
        )
        lines = log.getvalue().splitlines()
    reasons = [line.split(" ", 1)[-1] for line in lines
               if line.startswith(("WARNING", "ERROR")) or "Exception" in line]  # fmt: skip
    detail = "; ".join(reasons)[-500:]
    return SendResult(bool(ok), detail or ("accepted by the SMTP server" if ok else "failed"))

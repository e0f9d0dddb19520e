"""TLS to the broker, the same for the node and the console: one client context, one wording.

TLS always verifies the broker's certificate chain (against `ca_file`, or the system CAs) and
needs TLS 1.2 or newer. `insecure` skips only the host name check, for a lab broker reached by
an address that is not in its certificate; it never turns verification off.

Each side names the files in its own terms (the node's `mqtt.tls.ca_file`, the console's
`--broker-ca-file`), so errors take the caller's names (`TlsNames`) and say which file is wrong
and why.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path


class TlsConfigError(ValueError):
    """A TLS file cannot be used (missing, unreadable, not PEM, key not matching).

    `option` is the caller's name of the file that is wrong (for a certificate and its key, the
    certificate's), so a checker can point at it; `reason` is why, without the names.
    """

    def __init__(self, message: str, option: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.option = option
        self.reason = reason or message


@dataclass(frozen=True, slots=True)
class TlsNames:
    """What errors call each file: the node's config keys by default."""

    ca_file: str = "TLS ca_file"
    cert_file: str = "TLS cert_file"
    key_file: str = "key_file"


@dataclass(frozen=True, slots=True)
class TlsOptions:
    """How to check the broker, and prove who we are, over TLS. Holds paths, never secrets.

    `ca_file` None trusts the system CAs; given, it is the only CA trusted. `cert_file` and
    `key_file` (PEM, key unencrypted) go together and are only needed when the broker asks for a
    client certificate.
    """

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure: bool = False

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise TlsConfigError("TLS cert_file and key_file go together", "TLS cert_file")

    def context(self, names: TlsNames | None = None) -> ssl.SSLContext:
        """A client context: chain verified, host name checked unless `insecure`, TLS >= 1.2.

        Raises TlsConfigError naming the file (in `names`' words) that cannot be used.
        """
        names = names or TlsNames()
        try:
            ctx = ssl.create_default_context(
                ssl.Purpose.SERVER_AUTH,
                cafile=str(self.ca_file) if self.ca_file is not None else None,
            )
        except (OSError, ValueError) as exc:
            why = _why(exc)
            raise TlsConfigError(
                f"{names.ca_file} {self.ca_file}: {why}", names.ca_file, why
            ) from exc
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert_file is not None and self.key_file is not None:
            try:
                ctx.load_cert_chain(self.cert_file, self.key_file)
            except (OSError, ValueError) as exc:
                why = _why(exc)
                raise TlsConfigError(
                    f"{names.cert_file} {self.cert_file} / {names.key_file} {self.key_file}: {why}",
                    names.cert_file,
                    why,
                ) from exc
        # Only the host name check is ever skipped: verify_mode stays CERT_REQUIRED.
        ctx.check_hostname = not self.insecure
        return ctx


def _why(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"not usable ({getattr(exc, 'reason', None) or exc})"
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot read ({exc.strerror})"
    return f"not usable ({exc})"


_NAME_MISMATCH = frozenset({62, 64})  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH


def describe_connect_error(exc: BaseException | None) -> tuple[str, bool]:
    """Words for a failed connection attempt, and whether it is a TLS (not a network) problem."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = getattr(exc, "verify_message", None) or str(exc)
        if getattr(exc, "verify_code", None) in _NAME_MISMATCH:
            return f"TLS handshake failed: broker certificate is for another host ({detail})", True
        return f"TLS handshake failed: broker certificate not trusted ({detail})", True
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {getattr(exc, 'reason', None) or exc}", True
    if isinstance(exc, TimeoutError):
        return "unreachable: timed out", False
    if isinstance(exc, OSError):
        return f"unreachable: {exc.strerror or exc}", False
    return "unreachable", False

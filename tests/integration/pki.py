"""The security tests' throwaway credentials, and a Mosquitto that requires them.

Certificates come from the `openssl` command (Debian package `openssl`), EC P-256, valid two days;
password files from `mosquitto_passwd -b` (Debian package `mosquitto`), or, without it, written
here in the same `$7$` format. Nothing here is a real secret.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.integration.broker import HOST, MosquittoBroker, free_port

# One openssl config for every certificate: [req] needs a (here empty) distinguished_name section;
# the other sections are the extensions of each kind of certificate.
_OPENSSL_CONF = """\
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[misnamed]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:broker.invalid
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""
_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True, slots=True)
class CertPair:
    cert: Path
    key: Path


@dataclass(frozen=True, slots=True)
class Pki:
    ca: Path  # signed server, misnamed and client
    other_ca: Path  # signed nothing the broker presents: "the wrong CA"
    server: CertPair  # for localhost and 127.0.0.1
    misnamed: CertPair  # valid chain, but only for broker.invalid
    client: CertPair  # a node's client certificate


def have_openssl() -> bool:
    return shutil.which("openssl") is not None


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "openssl.cnf"
    conf.write_text(_OPENSSL_CONF, encoding="ascii")
    ca = _make_ca(directory, "ca", conf)
    other_ca = _make_ca(directory, "other-ca", conf)
    return Pki(
        ca=ca.cert,
        other_ca=other_ca.cert,
        server=_make_leaf(directory, "server", "localhost", ca, conf),
        misnamed=_make_leaf(directory, "misnamed", "broker.invalid", ca, conf),
        client=_make_leaf(directory, "client", "xizhen gate-1", ca, conf),
    )


def _openssl(directory: Path, *args: str) -> None:
    done = subprocess.run(
        ["openssl", *args], cwd=directory, capture_output=True, text=True, timeout=30, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.strip()}")


def _make_ca(directory: Path, name: str, conf: Path) -> CertPair:
    pair = CertPair(directory / f"{name}.crt", directory / f"{name}.key")
    _openssl(
        directory, "req", "-x509", "-new", *_EC, "-config", str(conf), "-extensions", "ca",
        "-days", "2", "-subj", f"/CN=Grid Sentinel test {name}",
        "-keyout", str(pair.key), "-out", str(pair.cert),
    )  # fmt: skip
    return pair


def _make_leaf(directory: Path, name: str, cn: str, ca: CertPair, conf: Path) -> CertPair:
    pair = CertPair(directory / f"{name}.crt", directory / f"{name}.key")
    csr = directory / f"{name}.csr"
    _openssl(
        directory, "req", "-new", *_EC, "-config", str(conf), "-subj", f"/CN={cn}",
        "-keyout", str(pair.key), "-out", str(csr),
    )  # fmt: skip
    _openssl(
        directory, "x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
        "-set_serial", str(secrets.randbits(63)), "-days", "2",
        "-extfile", str(conf), "-extensions", name,
        "-out", str(pair.cert),
    )  # fmt: skip
    return pair


def mosquitto_password_hash(password: str, salt: bytes | None = None) -> str:
    """What `mosquitto_passwd` stores: `$7$` = PBKDF2-HMAC-SHA512, 101 rounds, 12-byte salt."""
    salt = os.urandom(12) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, 101)
    return f"$7$101${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def write_password_file(path: Path, users: Mapping[str, str], *, use_tool: bool = True) -> None:
    """A Mosquitto password file for `users` (name -> password)."""
    tool = shutil.which("mosquitto_passwd") if use_tool else None
    if tool is None:
        lines = [f"{name}:{mosquitto_password_hash(pw)}\n" for name, pw in users.items()]
        path.write_text("".join(lines), encoding="utf-8")
        return
    for i, (name, pw) in enumerate(users.items()):
        create = ["-c"] if i == 0 else []
        subprocess.run(
            [tool, *create, "-b", str(path), name, pw], capture_output=True, timeout=30, check=True
        )


class SecureBroker:
    """A Mosquitto (not started) that wants a password and applies `acl`, on three listeners:
    `port` plain, `tls_port` TLS with `server`'s certificate, `mtls_port` the same but
    requiring a client certificate signed by the test CA."""

    def __init__(
        self,
        executable: str,
        workdir: Path,
        pki: Pki,
        *,
        server: CertPair,
        acl: Path,
        users: Mapping[str, str],
        hash_with_tool: bool = True,
    ) -> None:
        workdir.mkdir(parents=True)
        passwd = workdir / "passwd"
        write_password_file(passwd, users, use_tool=hash_with_tool)
        self.tls_port, self.mtls_port = free_port(), free_port()
        tls = [f"cafile {pki.ca}", f"certfile {server.cert}", f"keyfile {server.key}"]
        extra = [
            f"password_file {passwd}",
            f"acl_file {acl}",
            f"listener {self.tls_port} {HOST}",
            *tls,
            f"listener {self.mtls_port} {HOST}",
            *tls,
            "require_certificate true",
        ]
        self.broker = MosquittoBroker(
            executable, workdir, allow_anonymous=False, extra_config=extra
        )

    @property
    def port(self) -> int:
        return self.broker.port

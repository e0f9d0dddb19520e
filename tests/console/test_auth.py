"""Users and security: argon2 accounts, bearer tokens and cookie sessions with CSRF, the login
throttle, roles on every route, and a patrol confined to its own grid."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from grid_console.app import Console
from grid_console.auth.bootstrap import ensure_admin
from grid_console.auth.models import AdminAudit
from grid_console.auth.service import AuthService, LoginFailedError
from grid_console.db.engine import default_url, make_engine
from grid_console.db.migrate import upgrade
from grid_console.ingest.broker import parse_broker_url
from grid_console.people.models import Person
from grid_console.settings import Settings
from tests.console.conftest import Backend
from tests.console.fakeclock import FakeClock
from tests.console.helpers import (
    ADMIN_PASSWORD,
    NodeStandIn,
    api_as,
    case_of,
    seed,
    wait_until,
)
from tests.console.payloads import PREFIX, alert, encode, new_alert_id
from tests.integration.broker import MosquittoBroker

pytestmark = pytest.mark.integration

# Reachable without signing in: logging in, the bare health check, the API's own docs.
PUBLIC = {"/api/login", "/healthz", "/api/docs", "/api/docs/oauth2-redirect", "/api/openapi.json",
          # A notification's picture link: a phone's chat must open it; its sha256 is the key.
          "/api/snapshots/{sha256}"}  # fmt: skip


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def console(
    tmp_path: Path, broker: MosquittoBroker, backend: Backend, clock: FakeClock
) -> Iterator[Console]:
    settings = Settings(
        data_dir=tmp_path / "console", broker=parse_broker_url(broker.url), db_url=backend.url,
        client_id="console-auth", admin_password=ADMIN_PASSWORD, cookie_secure=True,
    )  # fmt: skip
    instance = Console(settings, clock=clock, announce=lambda _: None)
    instance.start()
    assert instance.mqtt.wait_subscribed(10)
    yield instance
    instance.stop()


def open_case(console: Console, broker: MosquittoBroker, grid: str, clock: FakeClock) -> int:
    alert_id = new_alert_id()
    node = NodeStandIn(broker)
    try:
        body = alert(alert_id, 1, "raised", kind="illegal_parking", grid=grid, at=clock())
        node.publish(f"{PREFIX}/alerts/illegal_parking", encode(body))
    finally:
        node.close()
    return wait_until(lambda: case_of(console, alert_id), what="the case").id


def test_every_route_but_login_needs_a_user(console: Console) -> None:
    client = TestClient(console.app)
    checked = 0
    # Every route of the API as the OpenAPI document lists it: app.routes shows an included
    # router (stats, pages) as one opaque entry in this FastAPI, so walking it missed them.
    routes = {
        path: {m.upper() for m in methods if m in {"get", "post", "put", "patch", "delete"}}
        for path, methods in console.app.openapi()["paths"].items()
    }
    for route in console.app.routes:  # and those kept out of the document
        if isinstance(route, APIRoute) and not route.include_in_schema:
            routes.setdefault(route.path, set()).update(route.methods)
    for template, methods in routes.items():
        if template in PUBLIC:
            continue
        path = re.sub(r"\{[^}]+\}", "1", template.replace("{digest}", "ab"))
        for method in sorted(methods):
            reply = client.request(method, path)
            assert reply.status_code == 401, f"{method} {template} answered {reply.status_code}"
            checked += 1
    assert {"/api/stats", "/api/pages/health"} <= routes.keys()
    assert checked >= 20  # the case, directory, figures and page routes are all in there
    assert client.get("/healthz").json().keys() == {"ok", "database", "mqtt"}


def test_login_bearer_and_wrong_passwords(console: Console) -> None:
    client = TestClient(console.app)
    good = client.post("/api/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert good.status_code == 200
    token = good.json()["token"]
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()[
        "role"] == "admin"  # fmt: skip
    for name, password in (("admin", "wrong-password-0"), ("nobody", ADMIN_PASSWORD)):
        bad = client.post("/api/login", json={"username": name, "password": password})
        assert bad.status_code == 401
        assert bad.json()["detail"] == "用户名或密码错误 / wrong user name or password"
    assert client.get("/api/me", headers={"Authorization": "Bearer forged"}).status_code == 401
    # A stored password is an argon2id hash, never the password.
    with Session(console.engine) as session:
        stored = session.execute(select(Person.password_hash)).scalar_one()
    assert stored is not None and stored.startswith("$argon2id$") and ADMIN_PASSWORD not in stored
    # Logging out ends the token.
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/logout", headers=headers).status_code == 200
    assert client.get("/api/me", headers=headers).status_code == 401


def test_the_login_throttle(console: Console, clock: FakeClock) -> None:
    client = TestClient(console.app)
    for _ in range(5):
        reply = client.post("/api/login", json={"username": "admin", "password": "bad-guess-00"})
        assert reply.status_code == 401
        clock.advance(10)
    # Now even the right password is refused, with when to come back.
    refused = client.post("/api/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert refused.status_code == 429
    wait = int(refused.headers["Retry-After"])
    assert 800 <= wait <= 15 * 60 + 1
    clock.advance(wait)
    assert (
        client.post(
            "/api/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        ).status_code
        == 200
    )


def test_cookie_sessions_need_the_csrf_header(console: Console) -> None:
    client = TestClient(console.app, base_url="https://testserver")
    reply = client.post("/api/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    cookies = reply.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("gc_session="))
    assert "HttpOnly" in session_cookie and "Secure" in session_cookie
    assert "SameSite=strict" in session_cookie
    csrf = reply.json()["csrf_token"]
    assert client.get("/api/cases").status_code == 200  # reading needs no CSRF header
    forged = client.post("/api/cases/1/actions", json={"action": "register"})
    assert forged.status_code == 403 and "CSRF" in forged.json()["detail"]
    wrong = client.post("/api/cases/1/actions", json={"action": "register"},
                        headers={"X-CSRF-Token": "not-it"})  # fmt: skip
    assert wrong.status_code == 403
    ok = client.post("/api/cases/1/actions", json={"action": "register"},
                     headers={"X-CSRF-Token": csrf})  # fmt: skip
    assert ok.status_code == 404  # past security: there is no case 1


def test_a_patrol_sees_and_acts_on_its_own_grid_only(
    console: Console, broker: MosquittoBroker, clock: FakeClock
) -> None:
    people = [("li", "patrol", ["A"]), ("wang", "operator", []), ("zhao", "volunteer", ["B"])]
    seed(console, grids=[("A", None), ("A-1", "A"), ("B", None)], people=people)
    in_micro = open_case(console, broker, "A-1", clock)  # a micro-grid of A
    in_b = open_case(console, broker, "B", clock)
    patrol = api_as(console, "li", "patrol-password-1")
    operator = api_as(console, "wang", "patrol-password-1")
    seen = {c["id"] for c in patrol.get("/api/cases").json()["cases"]}
    assert seen == {in_micro}
    assert {c["id"] for c in operator.get("/api/cases").json()["cases"]} == {in_micro, in_b}
    assert patrol.get(f"/api/cases/{in_b}").status_code == 404
    assert patrol.post(f"/api/cases/{in_b}/actions", json={"action": "accept"}).status_code == 404
    # Within its grid, a patrol may not register or dispatch: that is the centre's work.
    refused = patrol.post(f"/api/cases/{in_micro}/actions", json={"action": "register"})
    assert refused.status_code == 403
    operator.post(f"/api/cases/{in_micro}/actions", json={"action": "register"})
    sent = operator.post(f"/api/cases/{in_micro}/actions", json={"action": "dispatch", "to": "li"})
    assert sent.status_code == 200 and sent.json()["case"]["assignees"] == ["li"]
    taken = patrol.post(f"/api/cases/{in_micro}/actions", json={"action": "accept"})
    assert taken.status_code == 200
    assert taken.json()["event"]["actor"] == "li"
    # Dispatching to someone unknown, or to an operator, names the field.
    bad = operator.post(f"/api/cases/{in_b}/actions", json={"action": "register"})
    assert bad.status_code == 200
    for to in ("ghost", "wang"):
        reply = operator.post(f"/api/cases/{in_b}/actions", json={"action": "dispatch", "to": to})
        assert reply.status_code == 422 and reply.json()["detail"].startswith("to:")
    # The directory is the centre's: a patrol may not read it, an operator may not change it.
    assert patrol.get("/api/people").status_code == 403
    assert operator.get("/api/people").status_code == 200
    assert operator.post("/api/people", json={"username": "x", "role": "patrol"}).status_code == 403
    # An admin may, and the change is recorded with who made it.
    admin = api_as(console)
    made = admin.post("/api/people", json={"username": "xu", "role": "patrol", "grids": ["B"]})
    assert made.status_code == 200 and made.json()["grids"] == ["B"]
    hook = {"kind": "webhook", "target": "https://hooks.example.org/xu", "secret": "k"}
    changed = admin.patch("/api/people/xu", json={"grids": ["A"], "channels": [hook]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["channels"] == [
        {"kind": "webhook", "target": "https://hooks.example.org/xu", "has_secret": True}
    ]
    bad = admin.patch("/api/people/xu", json={"channels": [{**hook, "target": "ftp://x"}]})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("channels[0]:")
    assert admin.patch("/api/people/admin", json={"active": False}).status_code == 422
    assert admin.patch("/api/people/ghost", json={"active": False}).status_code == 404
    # Made inactive: their token stops working at once.
    assert admin.patch("/api/people/li", json={"active": False}).status_code == 200
    assert patrol.get("/api/cases").status_code == 401
    with Session(console.engine) as session:
        rows = session.execute(select(AdminAudit.actor, AdminAudit.action)).tuples().all()
    assert rows == [("admin", "add_person"), ("admin", "change_person"), ("admin", "change_person")]


def test_first_start_creates_one_admin(backend: Backend, tmp_path: Path) -> None:
    engine = make_engine(backend.url or default_url(tmp_path / "c"))
    said: list[str] = []
    try:
        upgrade(engine)
        now = FakeClock()()
        assert ensure_admin(engine, now, password=None, announce=said.append)
        assert not ensure_admin(engine, now, password=None, announce=said.append)  # a restart
        assert len(said) == 1 and "admin" in said[0]
        password = said[0].split("密码 ")[1].split("（")[0]
        assert AuthService(engine).login("admin", password, None, now).principal.role.value == (
            "admin"
        )
    finally:
        engine.dispose()


def test_users_add_reads_the_password_from_stdin(backend: Backend, tmp_path: Path) -> None:
    base = [sys.executable, "-m", "grid_console", "users", "add", "chen", "--role", "grid_head",
            "--data-dir", str(tmp_path / "c")]  # fmt: skip
    if backend.url:
        base += ["--db", backend.url]
    done = subprocess.run(base, input="chen-password-1\n", capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "chen-password-1" not in done.stdout + done.stderr
    bad = subprocess.run([*base[:5], "lu", "--role", "boss", *base[8:]], input="x" * 12 + "\n",
                         capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert bad.returncode == 2 and "unknown role 'boss'" in bad.stderr
    short = subprocess.run([*base[:5], "lu", *base[6:]], input="short\n", capture_output=True,
                           text=True, timeout=120, check=False)  # fmt: skip
    assert short.returncode == 2 and "password too short" in short.stderr
    engine = make_engine(backend.url or default_url(tmp_path / "c"))
    try:
        result = AuthService(engine).login("chen", "chen-password-1", None, FakeClock()())
        assert result.principal.role.value == "grid_head"
        # A new password from stdin; the old one stops working.
        passwd = [*base[:4], "passwd", "chen", *base[8:]]
        done = subprocess.run(passwd, input="chen-password-2\n", capture_output=True, text=True,
                              timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        later = FakeClock()
        later.advance(3600)  # past the throttle window of the failed try below
        with pytest.raises(LoginFailedError):
            AuthService(engine).login("chen", "chen-password-1", None, later())
        assert AuthService(engine).login("chen", "chen-password-2", None, later()).token
        listed = subprocess.run([*base[:4], "list", *base[8:]], capture_output=True, text=True,
                                timeout=120, check=False)  # fmt: skip
        assert "chen\tgrid_head\t-\tlogin\tactive" in listed.stdout
    finally:
        engine.dispose()

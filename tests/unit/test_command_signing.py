"""Signed platform commands (issue 12): only the platform's key commands a node."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from edge.clock import FakeClock
from edge.commandauth import CommandGate, SqliteNonces
from edge.commands import REFUSAL_REPLY_BURST, CommandHandler, Outcome
from edge.messages import Transition
from edge.mqtt.topics import Topics
from grid_contract.signing import (
    CommandRefusedError,
    MemoryNonces,
    Refusal,
    Verifier,
    canonical,
    generate_key,
    sign,
    signature,
)
from tests.schemas import validate
from tests.unit.test_lifecycle import World, ev, first_id

KEY = "k" * 32
TOPIC = "grid/xizhen/gate-1/cmd/release"


def verifier(clock: FakeClock, nonces: object | None = None) -> Verifier:
    store = nonces if nonces is not None else MemoryNonces(clock.now)
    return Verifier(KEY, store, max_age_s=120)  # type: ignore[arg-type]


def refusal(v: Verifier, topic: str, body: dict[str, object], now: float) -> Refusal:
    with pytest.raises(CommandRefusedError) as info:
        v.verify(topic, body, now)
    return info.value.cause


def test_known_answer_vector_from_the_contract() -> None:
    # The example in mqtt/topics.md: any platform, in any language, must produce this. The
    # value was checked outside Python: printf of the canonical text | openssl dgst -hmac.
    body = {"request_id": "r-1", "alert_id": "01JD6Z8Q4K3M5N7P9R1S2T3V4W", "note": "误报 车已离开"}
    signed = sign(
        "example-key-0123456789", TOPIC, body, by="op-7", now=1_767_225_600.0,
        nonce="n0nce-0123456789abcdef",
    )  # fmt: skip
    assert canonical(TOPIC, signed).startswith(b"gs-cmd/1\ngrid/xizhen/gate-1/cmd/release\n{")
    assert "误报".encode() in canonical(TOPIC, signed)  # UTF-8, not \\u escapes
    assert signed["sig"] == "5b056a2ca970d46156bfeb9b211040401b28148999bec03ac55fa46096348b65"


def test_a_signed_command_passes_once(tmp_path: Path) -> None:
    clock = FakeClock()
    v = verifier(clock)
    body = sign(KEY, TOPIC, {"alert_id": "a1"}, by="op-7", now=clock.now())
    assert v.verify(TOPIC, body, clock.now()).by == "op-7"
    assert refusal(v, TOPIC, body, clock.now()) is Refusal.REPLAYED


@pytest.mark.parametrize(
    ("change", "cause"),
    [
        (lambda b: b.pop("sig"), Refusal.UNSIGNED),
        (lambda b: b.update(by="chief-of-police"), Refusal.BAD_SIGNATURE),
        (lambda b: b.update(alert_id="another"), Refusal.BAD_SIGNATURE),
        (lambda b: b.update(note="added"), Refusal.BAD_SIGNATURE),
        (lambda b: b.update(sig="0" * 64), Refusal.BAD_SIGNATURE),
        (lambda b: b.update(sig="XYZ"), Refusal.MALFORMED),
        (lambda b: b.update(ts="1767225600000"), Refusal.MALFORMED),
        (lambda b: b.update(ts=True), Refusal.MALFORMED),
        (lambda b: b.update(nonce="short"), Refusal.MALFORMED),
        (lambda b: b.update(nonce="bad nonce with spaces!"), Refusal.MALFORMED),
        (lambda b: b.pop("by"), Refusal.MALFORMED),
        (lambda b: b.update(by=""), Refusal.MALFORMED),
        (lambda b: b.update(extra=1.5), Refusal.MALFORMED),
    ],
)
def test_tampered_or_malformed_commands_are_refused(change: object, cause: Refusal) -> None:
    clock = FakeClock()
    body = sign(KEY, TOPIC, {"alert_id": "a1"}, by="op-7", now=clock.now())
    change(body)  # type: ignore[operator]
    assert refusal(verifier(clock), TOPIC, body, clock.now()) is cause


def test_a_command_for_one_topic_does_not_pass_on_another() -> None:
    clock = FakeClock()
    body = sign(KEY, "grid/xizhen/gate-1/cmd/ack", {"alert_id": "a1"}, by="op", now=clock.now())
    assert refusal(verifier(clock), TOPIC, body, clock.now()) is Refusal.BAD_SIGNATURE
    other_node = "grid/xizhen/gate-2/cmd/ack"
    assert refusal(verifier(clock), other_node, body, clock.now()) is Refusal.BAD_SIGNATURE


def test_another_key_does_not_pass() -> None:
    clock = FakeClock()
    body = sign(generate_key(), TOPIC, {"alert_id": "a1"}, by="op", now=clock.now())
    assert refusal(verifier(clock), TOPIC, body, clock.now()) is Refusal.BAD_SIGNATURE


@pytest.mark.parametrize("offset", [-121.0, 121.0, 86_400.0])
def test_stale_or_future_commands_are_refused(offset: float) -> None:
    clock = FakeClock()
    body = sign(KEY, TOPIC, {"alert_id": "a1"}, by="op", now=clock.now() - offset)
    assert refusal(verifier(clock), TOPIC, body, clock.now()) is Refusal.STALE


def test_nonces_survive_a_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    body = sign(KEY, TOPIC, {"alert_id": "a1"}, by="op", now=clock.now())
    first = SqliteNonces(tmp_path / "n.sqlite3", clock)
    verifier(clock, first).verify(TOPIC, body, clock.now())
    first.close()
    again = SqliteNonces(tmp_path / "n.sqlite3", clock)
    assert refusal(verifier(clock, again), TOPIC, body, clock.now()) is Refusal.REPLAYED
    # Expired nonces are forgotten (their commands are stale by then anyway).
    clock.advance(200)
    assert again.claim("fresh-nonce-0000000000", clock.now() + 120)
    assert again._db.execute("SELECT COUNT(*) FROM nonces").fetchone()[0] == 1
    again.close()


def test_a_full_memory_nonce_cache_refuses_rather_than_forgets() -> None:
    clock = FakeClock()
    nonces = MemoryNonces(clock.now, max_entries=2)
    assert nonces.claim("a" * 16, clock.now() + 10)
    assert nonces.claim("b" * 16, clock.now() + 10)
    with pytest.raises(CommandRefusedError):
        nonces.claim("c" * 16, clock.now() + 10)
    clock.advance(11)
    assert nonces.claim("c" * 16, clock.now() + 10)


class Replies:
    def __init__(self) -> None:
        self.responses: list[dict[str, object]] = []
        self.lock = threading.Lock()

    def deliver(self, topic: str, payload: bytes) -> None:
        with self.lock:
            self.responses.append(json.loads(payload))


def handler(
    world: World, gate: CommandGate, replies: Replies, reload: object = None
) -> CommandHandler:
    return CommandHandler(
        world.manager, Topics("g/s/n"), replies, world.clock,
        reload=reload or (lambda: Outcome(True, "reloaded")),  # type: ignore[arg-type]
        snapshot=lambda cam: Outcome(False, "none"), gate=gate,
    )  # fmt: skip


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(tmp_path)
    w.manager.handle([ev(Transition.RAISED, "k1", 100)])
    return w


def _send(h: CommandHandler, world: World, command: str, body: dict[str, object]) -> None:
    topic = f"g/s/n/cmd/{command}"
    h.handle(topic, json.dumps(body, ensure_ascii=False).encode())


def test_no_key_refuses_every_command(world: World) -> None:
    replies = Replies()
    h = handler(world, CommandGate(None, world.clock, allow_unsigned=False), replies)
    _send(h, world, "release", {"alert_id": first_id(world), "by": "chief-of-police"})
    (reply,) = replies.responses
    validate("response", reply)
    assert reply["ok"] is False and "no commands.key" in str(reply["message"])
    assert world.manager.open_alerts()[0].state == "open"
    assert h.refused == {"no_key": 1}


def test_signed_release_names_the_signer_not_what_the_body_says(world: World) -> None:
    replies = Replies()
    gate = CommandGate(verifier(world.clock), world.clock, allow_unsigned=False)
    h = handler(world, gate, replies)
    body = sign(KEY, "g/s/n/cmd/release", {"alert_id": first_id(world)}, by="op-7",
                now=world.clock.now())  # fmt: skip
    _send(h, world, "release", body)
    assert replies.responses[-1]["ok"] is True
    assert world.sink.events[-1]["actor"]["by"] == "op-7"  # type: ignore[index]
    # The same bytes again: refused, and nothing changes.
    _send(h, world, "release", body)
    assert replies.responses[-1]["ok"] is False
    assert "already used" in str(replies.responses[-1]["message"])
    assert h.refused == {"replayed": 1}


def test_unsigned_commands_pass_only_when_the_lab_allows(world: World) -> None:
    replies = Replies()
    h = handler(world, CommandGate(None, world.clock, allow_unsigned=True), replies)
    _send(h, world, "ack", {"alert_id": first_id(world), "by": "lab"})
    assert replies.responses[-1]["ok"] is True


def test_retained_commands_are_ignored_and_counted(world: World) -> None:
    replies = Replies()
    h = handler(world, CommandGate(None, world.clock, allow_unsigned=True), replies)
    h.ignore_retained("g/s/n/cmd/release")
    assert replies.responses == [] and h.refused == {"retained": 1}


def test_refusals_are_answered_at_a_bounded_rate(world: World) -> None:
    replies = Replies()
    h = handler(world, CommandGate(verifier(world.clock), world.clock, allow_unsigned=False),
                replies)  # fmt: skip
    for _ in range(1000):
        _send(h, world, "release", {"alert_id": first_id(world), "by": "x"})
    assert len(replies.responses) == REFUSAL_REPLY_BURST
    assert h.refused == {"unsigned": 1000}
    world.clock.advance(1.0)
    _send(h, world, "release", {"alert_id": first_id(world), "by": "x"})
    assert len(replies.responses) == REFUSAL_REPLY_BURST + 1


def test_a_burst_of_reloads_is_coalesced(world: World) -> None:
    replies = Replies()
    calls: list[int] = []
    started = threading.Event()
    release = threading.Event()

    def slow_reload() -> Outcome:
        calls.append(1)
        started.set()
        release.wait(10)
        return Outcome(True, "reloaded")

    h = handler(world, CommandGate(None, world.clock, allow_unsigned=True), replies, slow_reload)
    threads_before = threading.active_count()
    for i in range(3000):
        _send(h, world, "reload", {"request_id": f"r{i}"})
        if i == 0:
            assert started.wait(5)
    assert threading.active_count() <= threads_before + 1
    release.set()
    deadline = time.monotonic() + 10
    while len(replies.responses) < 100 + 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert len(calls) == 2  # the one running, then one for all that waited
    ids = {r["request_id"] for r in replies.responses}
    assert "r0" in ids and "r1" in ids and len(ids) == 101  # waiting ids are bounded
    assert all(r["ok"] for r in replies.responses)


def test_signature_helper_is_stable() -> None:
    body = {"b": 1, "a": "x"}
    assert signature(KEY, TOPIC, body) == signature(KEY, TOPIC, dict(reversed(body.items())))

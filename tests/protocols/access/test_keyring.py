"""The live key ring: enforcing, reloads, credentials, scope, rate — on a clock the test moves."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import pytest

from inferd.errors import (
    InvalidArgument,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
    Unavailable,
)
from inferd.protocols.access import keyring as keyring_module
from inferd.protocols.access.keyfile import KeyRecord, create_key, revoke_key
from inferd.protocols.access.keyring import (
    CHECKS_PER_KEY,
    MAX_WAITING_CHECKS,
    KeyRing,
    Need,
    NoKey,
)

T = TypeVar("T")
INFER = Need("infer", "fraud")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(awaitable: Awaitable[T]) -> T:
    async def main() -> T:
        return await awaitable

    return asyncio.run(main())


def ring(path: Path, clock: Clock, *, required: bool = True) -> KeyRing:
    return KeyRing(path, required=required, clock=clock, check_interval_s=0.5)


def authorize(keys: KeyRing, credentials: str | None, need: Need = INFER) -> KeyRecord | None:
    return run(keys.authorize(credentials, need))


def test_a_named_file_must_exist_at_start(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="does not exist; create a key with"):
        ring(tmp_path / "keys.json", Clock())


def test_a_named_file_that_does_not_parse_fails_the_start(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text("{}")
    with pytest.raises(InvalidArgument, match="keys file"):
        ring(path, Clock())


def test_a_default_file_enforces_once_it_appears_and_never_opens_again(tmp_path: Path) -> None:
    path, clock = tmp_path / "keys.json", Clock()
    keys = ring(path, clock, required=False)
    assert authorize(keys, None) is None  # open: no file yet
    _, token = create_key(path, "ci")
    clock.now += 1
    with pytest.raises(NoKey):
        authorize(keys, None)
    assert authorize(keys, f"Bearer {token}").name == "ci"  # type: ignore[union-attr]
    path.unlink()
    clock.now += 1
    with pytest.raises(Unauthenticated):  # gone: no key is valid, still not open
        authorize(keys, f"Bearer {token}")
    with pytest.raises(NoKey):
        authorize(keys, None)


def test_credentials_bearer_or_basic_and_everything_else_is_401(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    _, token = create_key(path, "ci")
    keys = ring(path, Clock())
    assert authorize(keys, f"Bearer {token}") is not None
    assert authorize(keys, f"bearer   {token} ") is not None
    for user_pass in (f"anyone:{token}", f"{token}:"):
        basic = base64.b64encode(user_pass.encode()).decode()
        assert authorize(keys, f"Basic {basic}") is not None
    bad = [
        f"Token {token}",
        str(token),
        "Bearer",
        "Bearer inferd_",
        "Basic !!!",
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
        "Bearer " + "x" * 10_000,
        f"Bearer inferd_{token.key_id}_" + ("b" if token.secret[0] == "a" else "a") * 43,
        "Bearer inferd_ffffffffffff_" + "a" * 43,  # an id nobody issued
    ]
    for credentials in bad:
        with pytest.raises(Unauthenticated) as caught:
            authorize(keys, credentials)
        assert not isinstance(caught.value, NoKey), credentials
    with pytest.raises(NoKey):
        authorize(keys, "")


def test_scopes_and_deployments(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    _, fraud = create_key(path, "fraud-only", deployments=["fraud"])
    _, reader = create_key(path, "reader", scopes=["read"])
    _, both = create_key(path, "both", scopes=["infer", "read"])
    keys = ring(path, Clock())
    assert authorize(keys, f"Bearer {fraud}", Need("infer", "fraud"))
    with pytest.raises(PermissionDenied, match="may not use 'churn'"):
        authorize(keys, f"Bearer {fraud}", Need("infer", "churn"))
    with pytest.raises(PermissionDenied, match="every deployment"):
        authorize(keys, f"Bearer {fraud}", Need("infer", every_deployment=True))
    with pytest.raises(PermissionDenied, match="lacks the 'read' scope"):
        authorize(keys, f"Bearer {fraud}", Need("read"))
    with pytest.raises(PermissionDenied, match="lacks the 'infer' scope"):
        authorize(keys, f"Bearer {reader}", Need("infer", "fraud"))
    assert authorize(keys, f"Bearer {reader}", Need("read"))
    assert authorize(keys, f"Bearer {reader}", Need(None))  # any valid key
    assert authorize(keys, f"Bearer {both}", Need("infer", every_deployment=True))
    assert authorize(keys, f"Bearer {both}", Need("read"))


def test_revoke_takes_effect_at_the_next_look_even_for_a_remembered_token(
    tmp_path: Path,
) -> None:
    path, clock = tmp_path / "keys.json", Clock()
    _, token = create_key(path, "ci")
    _, other = create_key(path, "other")
    keys = ring(path, clock)
    assert authorize(keys, f"Bearer {token}")
    revoke_key(path, "ci")
    assert authorize(keys, f"Bearer {token}")  # not looked yet: within the interval
    clock.now += 0.6
    with pytest.raises(Unauthenticated, match="not valid"):
        authorize(keys, f"Bearer {token}")
    assert authorize(keys, f"Bearer {other}")


def test_a_file_that_stops_parsing_keeps_the_keys_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, clock = tmp_path / "keys.json", Clock()
    _, token = create_key(path, "ci")
    keys = ring(path, clock)
    path.write_text("{ half written")
    clock.now += 1
    assert authorize(keys, f"Bearer {token}")
    assert "the keys loaded before stay in force" in caplog.text


def test_a_token_is_hashed_once_however_many_requests_present_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "keys.json"
    _, token = create_key(path, "ci")
    keys = ring(path, Clock())
    calls: list[str] = []
    real = keyring_module.verify_secret

    def counting(secret: str, stored: object) -> bool:
        calls.append(secret)
        return real(secret, stored)  # type: ignore[arg-type]

    monkeypatch.setattr(keyring_module, "verify_secret", counting)
    wrong = f"Bearer inferd_{token.key_id}_" + "b" * 43

    async def many() -> list[object]:
        right = [keys.authorize(f"Bearer {token}", INFER) for _ in range(20)]
        bad = [keys.authorize(wrong, INFER) for _ in range(20)]
        return await asyncio.gather(*right, *bad, return_exceptions=True)

    results = run(many())
    assert all(isinstance(r, KeyRecord) for r in results[:20])
    assert all(isinstance(r, Unauthenticated) for r in results[20:])
    assert len(calls) == 2  # one check per distinct token, shared by concurrent requests
    run(many())
    assert len(calls) == 2  # remembered, right and wrong


def test_rate_limit_answers_retry_after_and_survives_reloads(tmp_path: Path) -> None:
    path, clock = tmp_path / "keys.json", Clock()
    _, token = create_key(path, "slow", rps=2)
    keys = ring(path, clock)
    assert authorize(keys, f"Bearer {token}")
    assert authorize(keys, f"Bearer {token}")
    with pytest.raises(RateLimited, match="limited to 2 requests/s") as caught:
        authorize(keys, f"Bearer {token}")
    assert caught.value.retry_after == 1.0
    create_key(path, "another")  # the file changes; the slow key's bucket does not refill
    clock.now += 0.1
    with pytest.raises(RateLimited):
        authorize(keys, f"Bearer {token}")
    clock.now += 0.5
    assert authorize(keys, f"Bearer {token}")


def test_a_keys_file_that_cannot_be_looked_at_fails_closed_and_names_no_path_to_clients(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "keys"
    folder.mkdir()
    path, clock = folder / "keys.json", Clock()
    keys = ring(path, clock, required=False)
    assert authorize(keys, None) is None  # open: nothing there yet
    path.unlink(missing_ok=True)
    folder.rmdir()
    folder.write_text("not a directory")  # stat(keys/keys.json) fails: ENOTDIR
    clock.now += 1
    with pytest.raises(NoKey) as caught:
        authorize(keys, None)
    assert str(tmp_path) not in caught.value.message
    with pytest.raises(Unauthenticated):
        authorize(keys, "Bearer inferd_0123456789ab_" + "a" * 43)
    assert "cannot read keys file" in caplog.text


@pytest.mark.parametrize("at_start", [True, False], ids=["at-start", "later"])
def test_a_default_file_that_appears_unparsable_requires_keys_and_admits_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, at_start: bool
) -> None:
    """``inferd up``'s ``$INFERD_HOME/keys.json`` requires keys once it exists: one that exists
    but does not parse (hand-edited, a newer version) left the gateway open, logging that
    "the keys loaded before stay in force" when none had been."""
    path, clock = tmp_path / "keys.json", Clock()
    _, token = create_key(tmp_path / "other.json", "ci")
    if at_start:
        path.write_text('{"version": 2, "keys": []}')
    keys = ring(path, clock, required=False)
    if not at_start:
        assert authorize(keys, None) is None  # open: no file yet
        path.write_text('{"version": 2, "keys": []}')
        clock.now += 1
    with pytest.raises(NoKey):
        authorize(keys, None)
    with pytest.raises(Unauthenticated):
        authorize(keys, f"Bearer {token}")
    assert keys.enforcing
    assert "does not parse: no API key is valid until it does" in caplog.text
    assert "stay in force" not in caplog.text
    (tmp_path / "other.json").replace(path)  # fixed: its keys apply
    clock.now += 1
    assert authorize(keys, f"Bearer {token}").name == "ci"  # type: ignore[union-attr]


def test_a_default_file_there_at_start_is_not_logged_as_appearing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``inferd up`` with ``$INFERD_HOME/keys.json`` already there logged, as it started, that
    the file "appeared: the data plane requires API keys now", as if it had just been made."""
    path, clock = tmp_path / "keys.json", Clock()
    create_key(path, "ci")
    keys = ring(path, clock, required=False)
    assert keys.enforcing
    assert "appeared" not in caplog.text
    later, later_clock = tmp_path / "later.json", Clock()
    keys = ring(later, later_clock, required=False)
    assert not keys.enforcing
    create_key(later, "ci")
    later_clock.now += 1
    assert keys.enforcing
    assert f"keys file {later} appeared" in caplog.text


def test_guesses_at_one_key_cannot_hold_up_the_checks_of_another(tmp_path: Path) -> None:
    """A client that knows a key id (the start of its token) and floods it with made-up secrets
    fills only that key's few places in the queue of scrypt checks: another key's first request
    is still checked, where it was refused 503 behind the flood."""
    path = tmp_path / "keys.json"
    _, attacked = create_key(path, "attacked")
    _, other = create_key(path, "other")
    keys = ring(path, Clock())
    guesses = [f"Bearer inferd_{attacked.key_id}_{i:043d}" for i in range(MAX_WAITING_CHECKS)]

    async def flood() -> tuple[list[object], object]:
        tried = [asyncio.ensure_future(keys.authorize(g, INFER)) for g in guesses]
        await asyncio.sleep(0)  # every guess is waiting for its check
        answer = await asyncio.gather(keys.authorize(f"Bearer {other}", INFER))
        return await asyncio.gather(*tried, return_exceptions=True), answer[0]

    refused, answer = run(flood())
    assert isinstance(answer, KeyRecord) and answer.name == "other"
    assert all(isinstance(r, Unauthenticated | Unavailable) for r in refused)
    backed_up = [r for r in refused if isinstance(r, Unavailable)]
    assert len(backed_up) == MAX_WAITING_CHECKS - CHECKS_PER_KEY
    assert "API key" in str(backed_up[0]) and attacked.key_id in str(backed_up[0])

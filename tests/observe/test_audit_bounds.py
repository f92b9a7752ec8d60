"""The audit log's cost is bounded: long fields are cut (and the record says so), and refusals
repeated from one source are merged into one record per interval with their count, while every
accepted or failed action is still recorded one by one."""

from __future__ import annotations

from pathlib import Path

from inferd.observe.audit import (
    DENIED_PER_INTERVAL,
    MAX_FIELD_CHARS,
    REFUSAL_INTERVAL_S,
    REFUSALS_PER_SOURCE,
    AuditLog,
    Caller,
    read_audit,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _refuse(audit: AuditLog, peer: str, path: str = "/v2/x", status: str = "401") -> None:
    audit.record(f"GET {path}", path, outcome="denied", status=status,
                 caller=Caller(peer=peer), detail="the control-plane token is missing")  # fmt: skip


def test_long_fields_are_cut_and_the_record_says_which(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.log", "server")
    path = "/" + "a" * 7000
    _refuse(audit, "127.0.0.1:5000", path)
    (record,) = read_audit(audit.path)
    assert len(record.action) <= MAX_FIELD_CHARS and len(record.target) <= MAX_FIELD_CHARS
    assert record.target.startswith("/aaa") and record.target.endswith("…")
    assert record.truncated == ("action", "target")
    assert audit.path.stat().st_size < 2 * MAX_FIELD_CHARS + 600


def test_repeated_refusals_from_one_source_are_merged_with_their_count(tmp_path: Path) -> None:
    clock = Clock()
    audit = AuditLog(tmp_path / "audit.log", "server", clock=clock)
    for port in range(500):  # a new connection, so a new port, each time
        _refuse(audit, f"127.0.0.1:{40000 + port}", f"/{port}")
    _refuse(audit, "10.0.0.7:1234")  # another source: its own records
    _refuse(audit, "127.0.0.1:1", status="403")  # another reason: its own records
    burst = REFUSALS_PER_SOURCE
    assert [r.target for r in read_audit(audit.path)] == [f"/{n}" for n in range(burst)] + [
        "/v2/x",
        "/v2/x",
    ]
    clock.now += REFUSAL_INTERVAL_S
    _refuse(audit, "127.0.0.1:2")  # the next interval: the count of the last, then this one
    records = read_audit(audit.path)[burst + 2 :]
    merged = records[0]
    assert (merged.outcome, merged.status, merged.count) == ("denied", "401", 500 - burst)
    assert merged.caller.peer == "127.0.0.1" and str(500 - burst) in merged.detail
    assert (records[1].target, records[1].count) == ("/v2/x", 1)
    assert len(records) == 2


def test_an_accepted_action_is_always_recorded(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.log", "server", clock=Clock())
    for _ in range(REFUSALS_PER_SOURCE + 3):
        _refuse(audit, "127.0.0.1:1")
        audit.record("load", "fraud", outcome="ok", status="200", caller=Caller("127.0.0.1:1"))
        audit.record("load", "x", outcome="error", status="404", caller=Caller("127.0.0.1:1"))
    outcomes = [r.outcome for r in read_audit(audit.path)]
    assert outcomes.count("ok") == outcomes.count("error") == REFUSALS_PER_SOURCE + 3
    assert outcomes.count("denied") == REFUSALS_PER_SOURCE


def test_refusals_from_many_sources_are_capped_per_interval(tmp_path: Path) -> None:
    clock = Clock()
    audit = AuditLog(tmp_path / "audit.log", "server", clock=clock)
    sources = DENIED_PER_INTERVAL + 300
    for n in range(sources):  # every address of 127.0.0.0/8 is this host's
        _refuse(audit, f"127.0.{n // 250}.{n % 250 + 1}:5000")
    assert len(read_audit(audit.path)) == DENIED_PER_INTERVAL
    audit.flush()
    records = read_audit(audit.path)
    assert sum(r.count for r in records) == sources
    assert len(records) == DENIED_PER_INTERVAL + 1
    assert records[-1].caller.peer == "" and records[-1].count == 300


def test_a_pending_count_is_written_by_flush(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.log", "up", clock=Clock())
    for _ in range(REFUSALS_PER_SOURCE + 2):
        _refuse(audit, "[::1]:5000")
    _refuse(audit, "ipv6:[::1]:6000")  # gRPC's form of a peer
    audit.flush()
    audit.flush()  # nothing pending: nothing more
    assert [(r.caller.peer, r.count) for r in read_audit(audit.path)] == [
        *[("[::1]:5000", 1)] * REFUSALS_PER_SOURCE,
        ("ipv6:[::1]:6000", 1),
        ("[::1]", 2),
    ]

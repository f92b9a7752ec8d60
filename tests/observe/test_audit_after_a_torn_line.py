"""An audit log whose writer was killed mid-record ends in a torn line: the next record was
joined to it (lost), and reading the log raised on the fragment."""

from __future__ import annotations

from pathlib import Path

from inferd.observe.audit import AuditLog, Caller, read_audit


def test_a_record_after_a_torn_line_is_kept_and_the_log_reads(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_bytes(b'{"ts')  # the last record of a killed process, cut short
    audit = AuditLog(path, "control")
    audit.record("POST /admin/apply", "fraud", outcome="ok", status="200",
                 caller=Caller(peer="127.0.0.1:5000"))  # fmt: skip
    (record,) = read_audit(path)
    assert record.action == "POST /admin/apply" and record.status == "200"
    assert path.read_bytes().startswith(b'{"ts\n')

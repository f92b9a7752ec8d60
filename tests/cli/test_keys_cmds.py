"""``inferd keys``: the token printed once on stdout alone, a list without secrets, revoke, and
the documented exit statuses."""

from __future__ import annotations

import stat
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from inferd.cli import main
from inferd.protocols.access.keyfile import read_keys
from inferd.protocols.access.tokens import parse_hash, parse_token, verify_secret


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["keys", *args])
    return result.exit_code, result.stdout, result.stderr


def test_create_prints_only_the_token_and_stores_its_hash_in_the_home(inferd_home: Path) -> None:
    status, out, err = invoke(
        "create", "ci", "--deployment", "fraud", "--scope", "infer", "--rps", "2.5",
    )  # fmt: skip
    assert status == 0, err
    token = parse_token(out.strip())
    assert token is not None and out == f"{token}\n"
    assert "shown only now" in err and "fraud" in err and "2.5 requests/s" in err
    path = inferd_home / "keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (record,) = read_keys(path)
    assert (record.name, record.id, record.deployments) == ("ci", token.key_id, ("fraud",))
    assert record.scopes == ("infer",) and record.rps == 2.5
    assert verify_secret(token.secret, parse_hash(record.hash))
    assert token.secret not in path.read_text()


def test_a_read_key_limited_to_deployments_is_refused(inferd_home: Path) -> None:
    """Read routes show every deployment, so such a key was created and let in nowhere."""
    status, out, err = invoke("create", "grafana", "--scope", "read", "--deployment", "fraud")
    assert status == 2 and out == ""
    assert "create the read key without --deployment" in err
    assert not (inferd_home / "keys.json").exists()


def test_list_and_revoke_with_another_keys_file(inferd_home: Path, tmp_path: Path) -> None:
    other = tmp_path / "team" / "keys.json"
    assert invoke("create", "a", "--keys-file", str(other))[0] == 0
    status, out, _ = invoke("create", "b", "--keys-file", str(other), "--json")
    created = orjson.loads(out)
    assert status == 0 and created["name"] == "b" and parse_token(created["token"])
    assert "hash" not in created
    status, out, _ = invoke("list", "--keys-file", str(other), "--json")
    listed = orjson.loads(out)
    assert [k["name"] for k in listed] == ["a", "b"]
    assert all("hash" not in k and "token" not in k for k in listed)
    status, out, _ = invoke("list", "--keys-file", str(other))
    assert status == 0 and "all" in out and "infer" in out
    status, _, err = invoke("revoke", "a", "--keys-file", str(other))
    assert status == 0 and "revoked key 'a'" in err
    assert [k.name for k in read_keys(other)] == ["b"]
    assert not (inferd_home / "keys.json").exists()  # the home's file was never touched


def test_list_of_no_file_is_empty(inferd_home: Path) -> None:
    status, out, _ = invoke("list", "--json")
    assert status == 0 and orjson.loads(out) == []


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (("create", "bad name"), 2, "name"),
        (("create", "x", "--deployment", "Not Valid"), 2, "--deployment 'Not Valid'"),
        (("create", "x", "--rps", "0"), 2, "--rps"),
        (("create", "x", "--scope", "admin"), 2, "--scope"),
        (("revoke", "nobody"), 3, "no key named 'nobody'"),
    ],
)
def test_mistakes_exit_with_their_documented_status(
    inferd_home: Path, args: tuple[str, ...], status: int, message: str
) -> None:
    code, _, err = invoke(*args)
    assert code == status
    assert message in err


def test_a_second_key_of_one_name_exits_4(inferd_home: Path) -> None:
    assert invoke("create", "ci")[0] == 0
    status, out, err = invoke("create", "ci")
    assert status == 4 and out == ""
    assert "'ci' exists" in err


def test_a_corrupt_keys_file_exits_2_naming_it(inferd_home: Path) -> None:
    (inferd_home / "keys.json").write_text("[")
    status, _, err = invoke("list")
    assert status == 2 and "keys file" in err and "not JSON" in err


@pytest.mark.parametrize("rate", ["inf", "nan", "1e400"])
def test_a_rate_that_is_not_a_finite_number_is_refused(inferd_home: Path, rate: str) -> None:
    """``--rps inf`` was stored as null, a key with no limit, while create said 'inf
    requests/s'."""
    status, out, err = invoke("create", "ci", "--rps", rate)
    assert (status, out) == (2, "")
    assert "rps" in err and "finite" in err
    assert not (inferd_home / "keys.json").exists()


def test_a_revoke_through_a_link_exits_2_naming_the_file_to_edit(
    inferd_home: Path, tmp_path: Path
) -> None:
    real = tmp_path / "etc" / "keys.json"
    assert invoke("create", "app", "--keys-file", str(real))[0] == 0
    (inferd_home / "keys.json").symlink_to(real)
    status, _, err = invoke("revoke", "app")
    assert status == 2
    assert f"--keys-file {real}" in err.replace("\n", "")
    assert [k.name for k in read_keys(real)] == ["app"]


def test_list_piped_prints_each_key_whole_on_one_line(inferd_home: Path) -> None:
    """Through a pipe (80 columns) rich cut long names with '…' and wrapped deployments onto
    more lines: ``inferd keys list | awk`` must get the name ``revoke`` takes."""
    name = "ci-pipeline-of-the-fraud-detection-team"
    deployments = ["fraud-detection-model", "recommendation-engine", "another-deployment"]
    flags = [a for d in deployments for a in ("--deployment", d)]
    status, token, err = invoke("create", name, *flags, "--rps", "100")
    assert status == 0, err
    status, out, err = invoke("list")
    assert status == 0, err
    header, row = out.splitlines()
    assert header.split()[:2] == ["NAME", "ID"] and "…" not in out
    assert row.split()[:2] == [name, token.split("_")[1]]
    assert ", ".join(deployments) in row


def test_revoke_json_says_which_key_went_as_create_and_list_name_it(inferd_home: Path) -> None:
    """Like ``inferd rm --json`` and ``logout --json``: a script learns what was removed (the
    key's fields under the names create and list use; never a secret), nothing else on stdout."""
    status, token, _ = invoke("create", "ci", "--deployment", "fraud")
    assert status == 0
    status, out, err = invoke("revoke", "ci", "--json")
    assert status == 0, err
    revoked = orjson.loads(out)
    assert (revoked["name"], revoked["id"]) == ("ci", token.split("_")[1])
    assert revoked["deployments"] == ["fraud"]
    assert revoked["keys_file"] == str(inferd_home / "keys.json")
    assert "hash" not in revoked and "token" not in revoked
    assert not read_keys(inferd_home / "keys.json")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bad name"], "error: key name 'bad name': letters, digits, '.', '_' and '-', "
         "starting with a letter or digit, at most 63 characters"),
        (["ci", "--deployment", "Fraud Model"], "error: --deployment 'Fraud Model': a "
         "deployment name is lower-case letters and digits, separated by '.', '_', '__', '-' "
         "or '/' (team/fraud), at most 255 characters"),
    ],
    ids=["name", "deployment"],
)  # fmt: skip
def test_a_bad_name_is_named_with_the_rule_not_a_pattern(
    inferd_home: Path, args: list[str], message: str
) -> None:
    """The errors were pydantic's "String should match pattern '^[a-z0-9]+(?:…'", naming
    neither the value nor, for a deployment, the flag."""
    status, out, err = invoke("create", *args)
    assert (status, out, err.strip()) == (2, "", message)
    assert not (inferd_home / "keys.json").exists()


def test_a_deployment_with_a_slash_is_accepted_as_the_rule_says(inferd_home: Path) -> None:
    status, _, err = invoke("create", "ci", "--deployment", "team/fraud")
    assert status == 0, err
    assert read_keys(inferd_home / "keys.json")[0].deployments == ("team/fraud",)


@pytest.mark.parametrize("command", [["create", "ci"], ["revoke", "ci"]])
def test_a_keys_file_whose_lock_cannot_be_created_is_named_with_the_problem(
    tmp_path: Path, command: list[str]
) -> None:
    """It said only "'/proc/keys.json.lock': No such file or directory"."""
    keys = Path("/proc/keys.json")
    status, out, err = invoke(*command, "--keys-file", str(keys))
    assert (status, out) == (2, "")
    assert f"keys file {keys}" in err and f"cannot create its lock file {keys}.lock" in err
    assert "No such file or directory" in err


def test_a_keys_file_whose_directory_cannot_be_created_is_named_with_the_problem() -> None:
    status, _, err = invoke("create", "ci", "--keys-file", "/proc/nowhere/keys.json")
    assert status == 2
    assert "keys file /proc/nowhere/keys.json: cannot create its directory /proc/nowhere" in err

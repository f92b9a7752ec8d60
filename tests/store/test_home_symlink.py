"""``$INFERD_HOME`` as a symbolic link (to a bigger disk, a shared volume): followed when its
target exists; when the target is gone (a disk not mounted, a volume renamed) the error names
the link and where it points, not "cannot be created (File exists)"."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from inferd.cli import main

from .conftest import EXAMPLES

MODEL = EXAMPLES / "quickstart" / "fraud-v1"


def _inferd(home: Path, *args: str) -> tuple[int, str, str]:
    done = CliRunner().invoke(main, list(args), env={"INFERD_HOME": str(home)})
    return done.exit_code, done.stdout, done.stderr


def test_a_home_linked_to_a_directory_is_followed(tmp_path: Path) -> None:
    target = tmp_path / "disk" / "inferd"
    target.mkdir(parents=True)
    (tmp_path / "link").symlink_to(target)
    code, _, err = _inferd(tmp_path / "link", "push", str(MODEL), "fraud:v1")
    assert code == 0, err
    assert (target / "store" / "index.json").is_file()
    code, out, _ = _inferd(tmp_path / "link", "ls")
    assert code == 0 and "fraud" in out


def test_a_home_linked_to_nothing_names_the_link(tmp_path: Path) -> None:
    missing = tmp_path / "mnt" / "models"  # the disk is not mounted
    link = tmp_path / "link"
    link.symlink_to(missing)
    for home in (link, link / "inferd"):
        code, _, err = _inferd(home, "push", str(MODEL), "fraud:v1")
        assert code == 2
        assert f"'{link}' is a symbolic link to '{missing}', which does not exist" in err, err
        assert "File exists" not in err
    assert not missing.exists()  # nothing was created in its place

"""CLI errors print the message as plain text, whatever brackets it holds."""

from click.testing import CliRunner

from inferd.cli import main


def test_error_with_markup_like_text_prints_verbatim(inferd_home) -> None:
    result = CliRunner().invoke(main, ["inspect", "model:[/red]"])
    assert result.exit_code == 2
    assert "[/red]" in result.output
    assert "MarkupError" not in result.output

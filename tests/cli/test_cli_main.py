"""The command group (cli/main.py): its commands, and what it leaves of the process's state."""

from __future__ import annotations

import warnings

from click.testing import CliRunner

from gibbsnet_cli.main import cli


def test_help_lists_the_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("train", "plugins", "sample", "inpaint", "reconstruct", "interpolate", "evaluate"):
        assert command in result.output


def test_warnings_are_one_line_during_a_command_and_the_process_keeps_its_handler(monkeypatch):
    original = warnings.showwarning

    @cli.command("warn-once", hidden=True)
    def warn_once() -> None:
        warnings.warn("careful", UserWarning, stacklevel=1)

    try:
        result = CliRunner().invoke(cli, ["warn-once"])
    finally:
        cli.commands.pop("warn-once")
    assert result.exit_code == 0
    assert result.stderr == "warning: careful\n"
    assert warnings.showwarning is original

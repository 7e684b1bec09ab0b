"""The command group (cli/main.py): its commands, and what it leaves of the process's state."""

from __future__ import annotations

import errno
import warnings

import click
import pytest
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


def raising(error: BaseException):
    """A hidden command that raises ``error``, run as a user would run any command."""

    @cli.command("fail", hidden=True)
    def fail() -> None:
        raise error

    try:
        return CliRunner().invoke(cli, ["fail"])
    finally:
        cli.commands.pop("fail")


@pytest.mark.parametrize("error, code, message", [
    (OSError(errno.ENOSPC, "No space left on device", "runs/x/checkpoints/last.pt"), 1,
     "error: No space left on device: runs/x/checkpoints/last.pt; free some space or write "
     "elsewhere (--out)\n"),
    (PermissionError(errno.EACCES, "Permission denied", "/root/out.png"), 1,
     "error: Permission denied: /root/out.png; check the permissions or write elsewhere (--out)\n"),
    (MemoryError(), 1, "error: out of memory; lower data.batch_size, the network sizes or --num\n"),
    (KeyboardInterrupt(), 130, "stopped (Ctrl-C)\n"),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: "
                  "you tried to allocate 128000000000000 bytes."), 1,
     "error: out of memory; lower data.batch_size, the network sizes or --num\n"),
    (ZeroDivisionError("division by zero"), 1,
     "internal error: ZeroDivisionError: division by zero (a bug in gibbsnet or a plugin; "
     "GIBBSNET_TRACEBACK=1 shows the traceback)\n"),
])
def test_every_error_is_one_line_with_its_exit_status(monkeypatch, error, code, message):
    monkeypatch.delenv("GIBBSNET_TRACEBACK", raising=False)
    result = raising(error)
    assert result.exit_code == code
    assert result.stderr == message


def test_an_error_in_a_data_loader_worker_is_its_own_message_in_one_line(tmp_path):
    from torch.utils.data import DataLoader

    import gibbsnet_plugin as gn
    from gibbsnet_plugin.errors import ImageReadError

    (tmp_path / "x.png").write_bytes(b"not an image")
    dataset = gn.datasets.build("folder", str(tmp_path), train=True, size=8, test_fraction=0.0)
    with pytest.raises(ImageReadError) as info:
        next(iter(DataLoader(dataset, num_workers=1)))
    assert "Original Traceback" in str(info.value)  # torch re-raises it with the worker's traceback
    result = raising(info.value)
    assert result.exit_code == 2
    assert result.stderr == (f"error: {tmp_path / 'x.png'}: not a readable image (cannot identify "
                             f"image file '{tmp_path / 'x.png'}'); it is an image of the folder "
                             "data set: replace or delete it\n")


def test_a_long_message_is_cut_and_the_traceback_is_there_when_asked(monkeypatch):
    from gibbsnet_plugin.errors import GibbsnetError

    result = raising(GibbsnetError("bad value " + "x" * 5000))
    assert result.exit_code == 2 and len(result.stderr) < 700 and result.stderr.endswith("…\n")
    monkeypatch.setenv("GIBBSNET_TRACEBACK", "1")
    assert isinstance(raising(ZeroDivisionError("boom")).exception, ZeroDivisionError)


def test_ctrl_c_before_a_command_starts_exits_130(monkeypatch, capsys):
    from gibbsnet_cli import main as entry

    def interrupted(*args, **kwargs):
        raise click.Abort

    monkeypatch.setattr(entry.cli, "main", interrupted)
    with pytest.raises(SystemExit) as exited:
        entry.main(["sample", "x"])
    assert exited.value.code == 130

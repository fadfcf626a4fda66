"""The ``colorbench`` command line.

Each sub-command lives beside the code it drives (``data/commands.py``, ``models/commands.py``,
``training/commands.py``); this module only assembles them and turns :class:`ColorbenchError`
into one line on stderr with exit code 2, never a traceback.

Sub-commands are imported when they are run, not when the program starts: most of them import
torch (seconds), which ``colorbench --help`` and ``colorbench plugin new`` do not need. Their
one-line help is therefore written here too; a test keeps it equal to each command's docstring.
"""

from __future__ import annotations

import errno
import os
import sys
from importlib import import_module

import click

from colorbench import __version__
from colorbench.errors import ColorbenchError

# name -> ("module:attribute" of the click command, its short help as the command states it)
COMMANDS: dict[str, tuple[str, str]] = {
    "data": (
        "colorbench.data.commands:data_group",
        "Prepare and inspect datasets (decoded, resized, L*a*b*, cached).",
    ),
    "list": (
        "colorbench.models.commands:list_command",
        "List generators (entry points in 'colorbench.generators'), or show one NAME in detail.",
    ),
    "metrics": (
        "colorbench.measures.commands:metrics_command",
        "List losses and metrics (entry points in 'colorbench.metrics'), or show one NAME in detail.",
    ),
    "weights": (
        "colorbench.measures.commands:weights_command",
        "List every weights file the metrics need (or those of metrics NAMES): where each is looked for, "
        "present or missing, and its sha256 when present.",
    ),
    "plugin": (
        "colorbench.models.scaffold:plugin_group",
        "Write your own generator plugin: 'colorbench plugin new NAME' starts one.",
    ),
    "train": (
        "colorbench.training.commands:train_command",
        "Train and evaluate ONE run; its directory is named by the hash of its spec.",
    ),
    "run": (
        "colorbench.study.commands:run_command",
        "Run a study: the baseline plus one-factor-at-a-time variations, as in the paper.",
    ),
    "colorize": (
        "colorbench.colorize.commands:colorize_command",
        "Colorize photos (files or folders) with a trained run, at their original resolution.",
    ),
    "results": (
        "colorbench.report.commands:results_command",
        "Print one row per (study, setting, generator, seed): configuration, status, losses, metrics.",
    ),
    "report": (
        "colorbench.report.commands:report_command",
        "Write a study's report: tables, effects with intervals, verdicts, figures, protocol.",
    ),
    "judge": (
        "colorbench.judge.commands:judge_command",
        "Serve a page where people tell a study's colorized photos from the real ones (fooling rate).",
    ),
}


# The errors of a path the user chose; any other OSError is a bug and keeps its traceback.
_USER_FIXABLE = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EEXIST,
    errno.ENOENT,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.ENAMETOOLONG,
}


def os_error_line(exc: OSError) -> str:
    """``cannot write runs/studies: Permission denied`` from an OSError, naming its path."""
    what = exc.strerror or str(exc)
    path = exc.filename
    hints = {
        errno.EACCES: "no permission there; choose another location",
        errno.EPERM: "no permission there; choose another location",
        errno.EROFS: "a read-only filesystem; choose another location",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.EISDIR: "a folder is in the way of a file",
        errno.EEXIST: "a file is in the way of a folder",
        errno.ENOSPC: "the disk is full",
    }
    hint = hints.get(exc.errno)
    target = f" {path}" if path else ""
    return f"cannot use{target}: {what}" + (f" ({hint})" if hint else "")


def load_command(name: str) -> click.Command:
    """Import the sub-command ``name`` of :data:`COMMANDS`."""
    module, attribute = COMMANDS[name][0].split(":")
    return getattr(import_module(module), attribute)


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ColorbenchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except BrokenPipeError:
            # `colorbench results | head`: the reader has gone; nothing more to say to it.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
        except OSError as exc:
            if exc.errno not in _USER_FIXABLE:
                raise
            # An output the user pointed at that cannot be written (read-only, a file where a
            # folder belongs, a full disk): theirs to fix, so one line and exit 2, not a traceback.
            click.echo(f"error: {os_error_line(exc)}", err=True)
            sys.exit(2)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMANDS:
            self.add_command(load_command(name), name)
        return self.commands.get(name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # As click's own, but from COMMANDS' help for the commands not imported yet.
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in self.commands:
                if self.commands[name].hidden:
                    continue
                rows.append((name, self.commands[name].get_short_help_str(limit)))
            else:
                # A stand-in command with the same help shortens it exactly as click would.
                rows.append((name, click.Command(name, help=COMMANDS[name][1]).get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="colorbench")
def main() -> None:
    """Benchmark and evaluation harness for automatic image colorization."""

"""The ``colorbench`` command line.

Each sub-command lives beside the code it drives (``data/commands.py``, ``models/commands.py``,
``training/commands.py``); this module only assembles them and turns :class:`ColorbenchError`
into one line on stderr with exit code 2, never a traceback.
"""

from __future__ import annotations

import sys

import click

from colorbench import __version__
from colorbench.errors import ColorbenchError


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ColorbenchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="colorbench")
def main() -> None:
    """Benchmark and evaluation harness for automatic image colorization."""


def _register() -> None:
    from colorbench.colorize.commands import colorize_command
    from colorbench.data.commands import data_group
    from colorbench.models.commands import list_command
    from colorbench.report.commands import report_command, results_command
    from colorbench.study.commands import run_command
    from colorbench.training.commands import train_command

    commands = (
        data_group,
        list_command,
        train_command,
        run_command,
        colorize_command,
        results_command,
        report_command,
    )
    for command in commands:
        main.add_command(command)


_register()

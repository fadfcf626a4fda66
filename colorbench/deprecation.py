"""Old option spellings kept for one release, each announced by one line on stderr when used.

colorbench 0.2 gave each concept one name across commands (README, "Renamed options"); the old
names still work until the next release, so scripts keep running while they are updated.
"""

from __future__ import annotations

import click


def deprecated_option(*flags: str, instead: str, why: str = "", **attributes):
    """A hidden click option that still works and prints ``note: OLD is deprecated; use NEW``."""

    def announce(ctx: click.Context, param: click.Parameter, value):
        if value is not None and value != () and value is not False:
            used = next((f for f in flags if f.startswith("--")), flags[0])
            click.echo(
                f"note: {used} is deprecated and goes in the next release; use {instead}"
                + (f" ({why})" if why else ""),
                err=True,
            )
        return value

    help_text = f"Deprecated: use {instead}."
    return click.option(*flags, default=None, hidden=True, help=help_text, callback=announce, **attributes)

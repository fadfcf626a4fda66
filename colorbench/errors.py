"""Errors that the CLI turns into one clear line and exit code 2 (usage errors)."""

from __future__ import annotations


class ColorbenchError(Exception):
    """A problem the user can fix (bad input, bad configuration). Shown as one line, exit code 2."""

    exit_code = 2

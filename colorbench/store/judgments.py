"""Where a store keeps the judgments of people (``colorbench judge``): one SQLite database.

    <store>/judgments/judgments.sqlite   (with its -wal and -shm files while a server has it open)

The schema and every read and write of it are ``colorbench.judge.db``'s; the store only names it.
"""

from __future__ import annotations

from pathlib import Path

JUDGMENTS = "judgments"
JUDGMENTS_DB = "judgments.sqlite"


def judgments_db_path(root: str | Path) -> Path:
    """The store's judgments database (it may not exist yet)."""
    return Path(root) / JUDGMENTS / JUDGMENTS_DB

"""The judgments database: SQLite in WAL mode, append-only, one row per answer.

Two tables. ``trials`` holds each judge's plan, written whole in one transaction the first time the
judge asks for a trial (so a restarted server hands out the same trials in the same order);
``judgments`` holds one row per answer, practice answers too (``practice`` = 1), with everything
the analysis needs copied into the row. Triggers refuse UPDATE and DELETE on both: nothing written
is ever changed. Every answer is committed before the server replies, with ``synchronous=FULL``,
so a server killed with kill -9 loses no answered trial; a judge's position is the first trial of
the plan without an answer, recomputed from the database on every request.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

SCHEMA_VERSION = 1
SIDES = ("left", "right")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}');
CREATE TABLE IF NOT EXISTS trials (
    trial_id    TEXT PRIMARY KEY,
    study       TEXT NOT NULL,
    judge       TEXT NOT NULL,
    position    INTEGER NOT NULL,        -- 0-based, practice trials first
    practice    INTEGER NOT NULL CHECK (practice IN (0, 1)),
    run_id      TEXT NOT NULL,
    generator   TEXT,
    setting     TEXT,
    seed        INTEGER,
    image_index INTEGER NOT NULL,        -- position in the val split (the saved sample's number)
    image_id    TEXT,
    real_side   TEXT NOT NULL CHECK (real_side IN ('left', 'right')),
    show_ms     INTEGER NOT NULL,        -- display time; 0: until answered
    issued_at   TEXT NOT NULL,
    UNIQUE (study, judge, position)
);
CREATE TABLE IF NOT EXISTS judgments (
    answer_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    trial_id       TEXT NOT NULL UNIQUE REFERENCES trials (trial_id),
    study          TEXT NOT NULL,
    judge          TEXT NOT NULL,
    position       INTEGER NOT NULL,
    practice       INTEGER NOT NULL CHECK (practice IN (0, 1)),
    run_id         TEXT NOT NULL,
    generator      TEXT,
    setting        TEXT,
    seed           INTEGER,
    image_index    INTEGER NOT NULL,
    image_id       TEXT,
    real_side      TEXT NOT NULL CHECK (real_side IN ('left', 'right')),
    colorized_side TEXT NOT NULL CHECK (colorized_side IN ('left', 'right')),
    choice         TEXT NOT NULL CHECK (choice IN ('left', 'right')),  -- the side chosen as real
    correct        INTEGER NOT NULL CHECK (correct IN (0, 1)),          -- chose the real photo
    fooled         INTEGER NOT NULL CHECK (fooled IN (0, 1)),           -- chose the colorized one
    response_ms    REAL NOT NULL,
    show_ms        INTEGER NOT NULL,
    answered_at    TEXT NOT NULL                                        -- UTC, ISO 8601
);
CREATE INDEX IF NOT EXISTS judgments_by_study ON judgments (study, practice, run_id);
CREATE TRIGGER IF NOT EXISTS trials_append_only_update BEFORE UPDATE ON trials
    BEGIN SELECT RAISE(ABORT, 'trials are append-only'); END;
CREATE TRIGGER IF NOT EXISTS trials_append_only_delete BEFORE DELETE ON trials
    BEGIN SELECT RAISE(ABORT, 'trials are append-only'); END;
CREATE TRIGGER IF NOT EXISTS judgments_append_only_update BEFORE UPDATE ON judgments
    BEGIN SELECT RAISE(ABORT, 'judgments are append-only'); END;
CREATE TRIGGER IF NOT EXISTS judgments_append_only_delete BEFORE DELETE ON judgments
    BEGIN SELECT RAISE(ABORT, 'judgments are append-only'); END;
"""

_TRIAL_COLUMNS = (
    "trial_id",
    "study",
    "judge",
    "position",
    "practice",
    "run_id",
    "generator",
    "setting",
    "seed",
    "image_index",
    "image_id",
    "real_side",
    "show_ms",
    "issued_at",
)


@dataclass(frozen=True)
class Trial:
    """One planned pair: the real photo on ``real_side``, ``run_id``'s colorization on the other."""

    trial_id: str
    study: str
    judge: str
    position: int
    practice: bool
    run_id: str
    generator: str | None
    setting: str | None
    seed: int | None
    image_index: int
    image_id: str | None
    real_side: str
    show_ms: int
    issued_at: str = ""

    @property
    def colorized_side(self) -> str:
        return SIDES[1 - SIDES.index(self.real_side)]

    def row(self) -> tuple:
        return tuple(int(v) if isinstance(v, bool) else v for v in (getattr(self, c) for c in _TRIAL_COLUMNS))

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Trial:
        values = {c: row[c] for c in _TRIAL_COLUMNS}
        values["practice"] = bool(values["practice"])
        return cls(**values)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def initialize(path: str | Path) -> Path:
    """Create the database (WAL mode, schema, triggers) if it is not there yet; returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = connect(path)
    try:
        connection.execute("PRAGMA journal_mode = WAL")  # persistent: stored in the file
        connection.executescript(_SCHEMA)
    finally:
        connection.close()
    return path


def connect(path: str | Path, *, read_only: bool = False) -> sqlite3.Connection:
    """A connection with full sync (every committed answer is on disk); ``read_only`` never creates."""
    path = Path(path)
    if read_only:
        target, uri = f"{path.resolve().as_uri()}?mode=ro", True
    else:
        target, uri = str(path), False
    connection = sqlite3.connect(target, uri=uri, timeout=30, isolation_level=None, check_same_thread=False)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA busy_timeout = 30000")
    if not read_only:
        connection.execute("PRAGMA synchronous = FULL")
    return connection


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT: one writer at a time, across processes too."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def judge_plan(connection: sqlite3.Connection, study: str, judge: str) -> list[Trial]:
    rows = connection.execute(
        "SELECT * FROM trials WHERE study = ? AND judge = ? ORDER BY position", (study, judge)
    ).fetchall()
    return [Trial.from_row(r) for r in rows]


def insert_plan(connection: sqlite3.Connection, trials: list[Trial]) -> None:
    marks = ", ".join("?" for _ in _TRIAL_COLUMNS)
    connection.executemany(
        f"INSERT INTO trials ({', '.join(_TRIAL_COLUMNS)}) VALUES ({marks})", [t.row() for t in trials]
    )


def planned_test_counts(connection: sqlite3.Connection, study: str) -> dict[str, int]:
    """Test trials planned so far per run (every judge): what keeps the runs balanced."""
    rows = connection.execute(
        "SELECT run_id, COUNT(*) AS n FROM trials WHERE study = ? AND practice = 0 GROUP BY run_id", (study,)
    ).fetchall()
    return {r["run_id"]: r["n"] for r in rows}


def next_trial(connection: sqlite3.Connection, study: str, judge: str) -> Trial | None:
    """The judge's first planned trial without an answer (None: finished, or no plan yet)."""
    row = connection.execute(
        "SELECT t.* FROM trials t LEFT JOIN judgments j ON j.trial_id = t.trial_id "
        "WHERE t.study = ? AND t.judge = ? AND j.trial_id IS NULL ORDER BY t.position LIMIT 1",
        (study, judge),
    ).fetchone()
    return Trial.from_row(row) if row else None


def find_trial(connection: sqlite3.Connection, trial_id: str) -> Trial | None:
    row = connection.execute("SELECT * FROM trials WHERE trial_id = ?", (trial_id,)).fetchone()
    return Trial.from_row(row) if row else None


def find_answer(connection: sqlite3.Connection, trial_id: str) -> sqlite3.Row | None:
    return connection.execute("SELECT * FROM judgments WHERE trial_id = ?", (trial_id,)).fetchone()


def record_answer(connection: sqlite3.Connection, trial: Trial, choice: str, response_ms: float) -> bool:
    """Append the answer to ``trial``; False (and nothing written) when it already has one."""
    if choice not in SIDES:
        raise ValueError(f"choice must be left or right, not {choice!r}")
    correct = choice == trial.real_side
    cursor = connection.execute(
        "INSERT OR IGNORE INTO judgments (trial_id, study, judge, position, practice, run_id, generator, "
        "setting, seed, image_index, image_id, real_side, colorized_side, choice, correct, fooled, "
        "response_ms, show_ms, answered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            trial.trial_id,
            trial.study,
            trial.judge,
            trial.position,
            int(trial.practice),
            trial.run_id,
            trial.generator,
            trial.setting,
            trial.seed,
            trial.image_index,
            trial.image_id,
            trial.real_side,
            trial.colorized_side,
            choice,
            int(correct),
            int(not correct),
            float(response_ms),
            trial.show_ms,
            utc_now(),
        ),
    )
    return cursor.rowcount == 1


def judge_progress(connection: sqlite3.Connection, study: str, judge: str) -> dict[str, int]:
    row = connection.execute(
        "SELECT SUM(t.practice = 1) AS practice_total, SUM(t.practice = 0) AS test_total, "
        "SUM(t.practice = 1 AND j.trial_id IS NOT NULL) AS practice_done, "
        "SUM(t.practice = 0 AND j.trial_id IS NOT NULL) AS test_done "
        "FROM trials t LEFT JOIN judgments j ON j.trial_id = t.trial_id WHERE t.study = ? AND t.judge = ?",
        (study, judge),
    ).fetchone()
    return {k: int(row[k] or 0) for k in ("practice_total", "practice_done", "test_total", "test_done")}


def study_progress(connection: sqlite3.Connection, study: str) -> dict:
    """Counts only (never rates: a page open to judges must not show how others did)."""
    totals = connection.execute(
        "SELECT COUNT(DISTINCT judge) AS judges, SUM(practice = 1) AS practice, SUM(practice = 0) AS test "
        "FROM judgments WHERE study = ?",
        (study,),
    ).fetchone()
    per_run = connection.execute(
        "SELECT run_id, COUNT(*) AS n FROM judgments WHERE study = ? AND practice = 0 GROUP BY run_id",
        (study,),
    ).fetchall()
    started = connection.execute("SELECT COUNT(DISTINCT judge) FROM trials WHERE study = ?", (study,))
    return {
        "judges_started": int(started.fetchone()[0] or 0),
        "judges_answered": int(totals["judges"] or 0),
        "practice_answers": int(totals["practice"] or 0),
        "test_answers": int(totals["test"] or 0),
        "test_answers_per_run": {r["run_id"]: int(r["n"]) for r in per_run},
    }

"""``colorbench judge STORE``: serve the judge page of a study (needs ``colorbench[judge]``)."""

from __future__ import annotations

import ipaddress
import secrets
import socket
import sqlite3
from pathlib import Path

import click

from colorbench.errors import ColorbenchError

DEFAULT_PORT = 8765
EXTRA_HINT = "pip install 'colorbench[judge]'"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost: assume it reaches beyond this machine


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ColorbenchError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc} (choose another with --port)"
            ) from None


def _choose_study(root: Path, study: str | None) -> str:
    from colorbench.store import list_studies

    names = list_studies(root)
    if study is not None:
        return study
    if len(names) == 1:
        return names[0]
    if not names:
        raise ColorbenchError(f"no study records in {root} (write one with: colorbench run --out {root})")
    raise ColorbenchError(f"the store holds several studies; choose one with --study ({', '.join(names)})")


@click.command("judge")
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--study", default=None, help="The study whose runs are judged [the store's only study].")
@click.option(
    "--practice",
    default=10,
    show_default=True,
    type=click.IntRange(0, 1000),
    help="Practice trials per judge, with feedback.",
)
@click.option(
    "--trials",
    default=40,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Test trials per judge (no feedback); these give the fooling rate.",
)
@click.option(
    "--show-ms",
    default=1000,
    show_default=True,
    type=click.IntRange(0, 600_000),
    help="How long each pair is shown, in ms (0: until answered); answering takes as long as it takes.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port to listen on.",
)
@click.option(
    "--token",
    default=None,
    help="Required on every request; with a --host other than loopback one is made up if not given.",
)
def judge_command(store, study, practice, trials, show_ms, host, port, token) -> None:
    """Serve a page where people tell a study's colorized photos from the real ones (fooling rate).

    The two-alternative forced-choice test of Zhang et al. (2016) on the val images the study's
    completed runs saved; answers go to STORE/judgments/judgments.sqlite. See docs/judge.md.
    """
    try:
        import uvicorn

        from colorbench.judge.server import JudgeSession, create_app
    except ImportError as exc:
        raise ColorbenchError(f"colorbench judge needs FastAPI and uvicorn: {EXTRA_HINT} ({exc})") from None
    from colorbench.judge.db import initialize
    from colorbench.judge.trials import require_candidates
    from colorbench.store import judgments_db_path
    from colorbench.store.reader import store_root

    root = store_root(store).resolve()
    name = _choose_study(root, study)
    candidates = require_candidates(root, name)
    if token is not None and not token.strip():
        raise ColorbenchError("--token must not be empty")
    if token is None and not is_loopback(host):
        token = secrets.token_urlsafe(16)
    _check_port_free(host, port)
    database = judgments_db_path(root)
    try:
        initialize(database)
    except sqlite3.Error as exc:  # not a database, or one that cannot be written
        raise ColorbenchError(f"cannot use the judgments database {database}: {exc}") from None
    session = JudgeSession(
        root=root,
        study=name,
        database=database,
        candidates=tuple(candidates),
        n_practice=practice,
        n_test=trials,
        show_ms=show_ms,
        token=token,
    )
    app = create_app(session)
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{port}/" + (f"?token={token}" if token else "")
    n_images = sum(len(c.images) for c in candidates)
    click.echo(
        f"judge page for study {name}: {url}\n"
        f"{len(candidates)} run(s), {n_images} image pair(s); {practice} practice + {trials} test trials "
        f"per judge; answers go to {session.database}. Ctrl-C stops (answers are kept).",
        err=False,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)

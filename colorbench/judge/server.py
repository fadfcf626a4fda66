"""The judge page's web server (FastAPI): the page, its JSON interface, and the images.

The interface (docs/judge.md) is what the page itself uses:

    GET  /api/next?judge=ID   the judge's next trial, or {"finished": true, ...}
    POST /api/answer          {"trial_id": ..., "choice": "left"|"right", "ms": ...}
    GET  /api/progress        counts for the study (and for one judge with ?judge=ID)
    GET  /api/config          the study's name and the session's options
    GET  /api/image/{trial_id}/{side}   one of the two photos of a trial

An image URL names a trial and a side, never a file, so it does not tell which photo is real; the
file behind it is found through the store's API and must resolve inside the store (a symlink that
leads out of it is refused with 403). With a token, every request must carry it: the header
``X-Colorbench-Token``, the cookie the page is given, or ``?token=``.
"""

from __future__ import annotations

import hmac
import re
import threading
from contextlib import closing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from colorbench.judge import db
from colorbench.judge.trials import Candidate, draw_plan, truth_path
from colorbench.store import RunDirectory, Store

TOKEN_HEADER = "X-Colorbench-Token"
TOKEN_COOKIE = "colorbench_token"
JUDGE_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class JudgeSession:
    """What one server serves: a study of a store, and how its trials are run."""

    root: Path
    study: str
    database: Path
    candidates: tuple[Candidate, ...]
    n_practice: int
    n_test: int
    show_ms: int
    feedback_ms: int = 1200
    token: str | None = None


class Answer(BaseModel):
    trial_id: str = Field(min_length=1, max_length=64)
    choice: Literal["left", "right"]
    ms: float = Field(ge=0, le=24 * 3600 * 1000)


def inside_store(root: Path, path: Path) -> Path:
    """``path`` resolved, if it is a file inside the store; 404 if missing, 403 if outside."""
    try:
        real = path.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError, RuntimeError):  # RuntimeError: a symlink loop
        raise HTTPException(404, "no such image") from None
    if not real.is_relative_to(root.resolve()):
        raise HTTPException(403, "outside the store")
    if not real.is_file():
        raise HTTPException(404, "no such image")
    return real


def create_app(session: JudgeSession) -> FastAPI:
    app = FastAPI(title="colorbench judge", docs_url=None, redoc_url=None, openapi_url=None)
    by_run = {c.run_id: c for c in session.candidates}
    plan_lock = threading.Lock()  # plans of one server are drawn one at a time (BEGIN IMMEDIATE: across)
    db.initialize(session.database)
    page = resources.files("colorbench.judge").joinpath("static/index.html").read_text()

    def connection():
        return db.connect(session.database)

    @app.middleware("http")
    async def require_token(request: Request, call_next):
        if session.token is None:
            return await call_next(request)
        given = (
            request.headers.get(TOKEN_HEADER)
            or request.cookies.get(TOKEN_COOKIE)
            or request.query_params.get("token")
            or ""
        )
        if not hmac.compare_digest(given.encode(), session.token.encode()):
            return JSONResponse({"detail": "a valid token is required (?token=...)"}, status_code=401)
        response = await call_next(request)
        if request.query_params.get("token"):
            response.set_cookie(TOKEN_COOKIE, session.token, httponly=True, samesite="strict")
        return response

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(page, headers=NO_STORE)

    @app.get("/api/config")
    def config() -> dict:
        return {
            "study": session.study,
            "practice": session.n_practice,
            "trials": session.n_test,
            "show_ms": session.show_ms,
            "feedback_ms": session.feedback_ms,
            "runs": len(session.candidates),
        }

    def check_judge(judge: str) -> str:
        if not JUDGE_ID.match(judge or ""):
            raise HTTPException(400, "judge must be 8 to 64 letters, digits, - or _")
        return judge

    @app.get("/api/next")
    def next_trial(judge: str) -> JSONResponse:
        check_judge(judge)
        with closing(connection()) as conn:
            trial = db.next_trial(conn, session.study, judge)
            if trial is None and not db.judge_plan(conn, session.study, judge):
                with plan_lock, db.transaction(conn):
                    if not db.judge_plan(conn, session.study, judge):
                        plan = draw_plan(
                            list(session.candidates),
                            study=session.study,
                            judge=judge,
                            n_practice=session.n_practice,
                            n_test=session.n_test,
                            show_ms=session.show_ms,
                            planned=db.planned_test_counts(conn, session.study),
                        )
                        db.insert_plan(conn, plan)
                trial = db.next_trial(conn, session.study, judge)
            progress = db.judge_progress(conn, session.study, judge)
        if trial is None:
            return JSONResponse({"finished": True, **progress}, headers=NO_STORE)
        return JSONResponse(
            {
                "finished": False,
                "trial_id": trial.trial_id,
                "left": f"/api/image/{trial.trial_id}/left",
                "right": f"/api/image/{trial.trial_id}/right",
                "practice": trial.practice,
                "show_ms": trial.show_ms,
                **progress,
            },
            headers=NO_STORE,
        )

    @app.post("/api/answer")
    def answer(body: Answer) -> JSONResponse:
        with closing(connection()) as conn:
            trial = db.find_trial(conn, body.trial_id)
            if trial is None or trial.study != session.study:
                raise HTTPException(404, "no such trial")
            with db.transaction(conn):
                recorded = db.record_answer(conn, trial, body.choice, body.ms)
            stored = db.find_answer(conn, trial.trial_id)
        out = {"recorded": recorded, "duplicate": not recorded, "practice": trial.practice}
        if trial.practice:  # feedback only while practising
            out.update(correct=bool(stored["correct"]), real=trial.real_side)
        return JSONResponse(out, headers=NO_STORE)

    @app.get("/api/progress")
    def progress(judge: str | None = None) -> JSONResponse:
        with closing(connection()) as conn:
            out = {"study": session.study, **db.study_progress(conn, session.study)}
            if judge is not None:
                out["judge"] = db.judge_progress(conn, session.study, check_judge(judge))
        return JSONResponse(out, headers=NO_STORE)

    @app.get("/api/image/{trial_id}/{side}")
    def image(trial_id: str, side: str) -> Response:
        if side not in db.SIDES:
            raise HTTPException(404, "no such image")
        with closing(connection()) as conn:
            trial = db.find_trial(conn, trial_id)
        if trial is None or trial.study != session.study:
            raise HTTPException(404, "no such image")
        run = Store(session.root).run(trial.run_id)
        if side == trial.real_side:
            candidate = by_run.get(trial.run_id)
            data_key = candidate.data_key if candidate else _data_key(run)
            path = truth_path(session.root, run, data_key, trial.image_index)
        else:
            path = run.sample_path(trial.image_index, "pred")
        real = inside_store(session.root, path)
        return Response(real.read_bytes(), media_type="image/png", headers=NO_STORE)

    return app


def _data_key(run: RunDirectory) -> str | None:
    try:
        key = run.read_record().data.get("key")
    except Exception:  # a damaged record: the run's own copy, if any, is all there is
        return None
    return key if isinstance(key, str) else None

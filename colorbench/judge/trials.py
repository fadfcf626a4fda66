"""What a judge is shown: the study's finished runs, their saved val images, and a balanced plan.

A candidate is a completed run of the study (the current run of each planned entry, never a stale
one) together with the val images for which both its prediction and the real photo were saved
(the run's ``samples`` and the split's baseline truths, found through the store's API). A judge's
plan gives each run the same number of test trials, give or take one, counted over every judge of
the study so far, shows each photo as rarely as it can to the same judge, and puts the real photo
on the left in half the trials, at random.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from pathlib import Path

from colorbench.errors import ColorbenchError
from colorbench.judge.db import SIDES, Trial, utc_now
from colorbench.store import RunDirectory, Status, Store, UnreadableRecordError
from colorbench.store.baselines import BaselineDirectory
from colorbench.store.studies import read_study


@dataclass(frozen=True)
class Candidate:
    """A finished run and the val images a judge can be shown of it."""

    run_id: str
    generator: str
    setting: str
    seed: int | None
    data_key: str | None
    images: tuple[int, ...]  # val indices with both the prediction and the truth saved
    image_ids: tuple[str | None, ...]  # their ids (file names in the data source), where known


def _is_run_name(run_id: object) -> bool:
    # A study record names runs; one naming a path ("../x", "/etc") is not a run of this store.
    return isinstance(run_id, str) and run_id not in ("", ".", "..") and Path(run_id).name == run_id


def truth_path(root: Path, run: RunDirectory, data_key: str | None, index: int) -> Path:
    """The real photo of val image ``index``: the split's baseline copy, else (older stores) the run's."""
    if data_key:
        path = BaselineDirectory(root, data_key).sample_path(index, "truth")
        if path.exists():
            return path
    return run.sample_path(index, "truth")


def _truth_indices(root: Path, run: RunDirectory, data_key: str | None) -> set[int]:
    found = set(run.saved_samples("truth"))
    if data_key:
        found |= set(BaselineDirectory(root, data_key).saved_samples("truth"))
    return found


def study_candidates(root: str | Path, study: str) -> list[Candidate]:
    """The study's completed runs that saved val images to judge, in the study record's order."""
    root = Path(root)
    record = read_study(root, study)
    out: list[Candidate] = []
    for entry in record.runs:
        run_id = entry.get("run_id")
        if not _is_run_name(run_id):
            continue
        run = Store(root).run(run_id)
        status, _ = run.state()
        if status is not Status.COMPLETED:
            continue
        try:
            data = run.read_record().data
        except UnreadableRecordError:
            continue
        data_key = data.get("key") if isinstance(data.get("key"), str) else None
        indices = sorted(set(run.saved_samples("pred")) & _truth_indices(root, run, data_key))
        if not indices:
            continue
        gray = BaselineDirectory(root, data_key).read_record() if data_key else None
        ids = list(gray.get("image_ids") or []) if gray else []
        seed = entry.get("seed")
        out.append(
            Candidate(
                run_id=run_id,
                generator=str(entry.get("generator")),
                setting=str(entry.get("setting")),
                seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
                data_key=data_key,
                images=tuple(indices),
                image_ids=tuple(str(ids[i]) if i < len(ids) else None for i in indices),
            )
        )
    return out


def require_candidates(root: Path, study: str) -> list[Candidate]:
    candidates = study_candidates(root, study)
    if not candidates:
        raise ColorbenchError(
            f"study {study!r} in {root} has no completed run with saved val images to judge "
            "(finish it with: colorbench run ..., keeping num_samples above 0)"
        )
    return candidates


def draw_plan(
    candidates: list[Candidate],
    *,
    study: str,
    judge: str,
    n_practice: int,
    n_test: int,
    show_ms: int,
    planned: dict[str, int],
    rng: random.Random | None = None,
) -> list[Trial]:
    """A judge's trials: ``n_practice`` practice trials, then ``n_test`` test trials.

    ``planned``: test trials already planned per run (all judges), so that the study stays
    balanced across runs however many judges come and go.
    """
    rng = rng or random.Random(secrets.randbits(64))
    counts = {c.run_id: planned.get(c.run_id, 0) for c in candidates}
    test_runs: list[Candidate] = []
    for _ in range(n_test):
        fewest = min(counts.values())
        pick = rng.choice([c for c in candidates if counts[c.run_id] == fewest])
        counts[pick.run_id] += 1
        test_runs.append(pick)
    rng.shuffle(test_runs)
    practice_runs = [rng.choice(candidates) for _ in range(n_practice)]
    seen: dict[int, int] = {}  # val index -> times this judge is shown the photo
    stamp = utc_now()
    trials = []
    for phase_runs, practice in ((practice_runs, True), (test_runs, False)):
        sides = [SIDES[i % 2] for i in range(len(phase_runs))]
        rng.shuffle(sides)
        for run, real_side in zip(phase_runs, sides, strict=True):
            least = min(seen.get(i, 0) for i in run.images)
            slot = rng.choice([k for k, i in enumerate(run.images) if seen.get(i, 0) == least])
            index = run.images[slot]
            seen[index] = seen.get(index, 0) + 1
            trials.append(
                Trial(
                    trial_id=secrets.token_urlsafe(12),
                    study=study,
                    judge=judge,
                    position=len(trials),
                    practice=practice,
                    run_id=run.run_id,
                    generator=run.generator,
                    setting=run.setting,
                    seed=run.seed,
                    image_index=index,
                    image_id=run.image_ids[slot],
                    real_side=real_side,
                    show_ms=show_ms,
                    issued_at=stamp,
                )
            )
    return trials

"""The store as one object (``Store``) and the one status vocabulary (``Status``)."""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict
from pathlib import Path

import pytest
from store_builder import write_store

from colorbench.errors import ColorbenchError
from colorbench.store import RunDirectory, Status, Store, StudyRecord, Summary, UnreadableRecordError
from colorbench.store.reader import load_runs
from colorbench.store.rundir import samples_of_kind
from colorbench.study.executors import RunOutcome


def test_a_store_finds_its_runs_studies_and_baselines(tmp_path):
    root = write_store(tmp_path / "runs", seeds=(0,), n_images=4)
    store = Store(root)
    runs = store.runs()
    assert runs and all(isinstance(r, RunDirectory) and r.has_record() for r in runs)
    assert [r.run_id for r in runs] == sorted(r.run_id for r in runs)
    assert {r.run_id for r in runs} == {r.run_id for r in load_runs(root).itertuples() if r.run_id}
    first = runs[0]
    assert store.run(first.run_id).path == first.path and first.store == store
    assert store.studies() == ["built"]
    assert isinstance(store.study("built"), StudyRecord)
    assert [b.data_key for b in store.baselines()] == [first.read_record().data["key"]]
    assert store.baseline(first.read_record().data["key"]).complete()
    # The study and baseline folders are not runs, and an empty or absent store has none.
    assert Store(tmp_path / "absent").runs() == [] and Store(tmp_path / "absent").studies() == []


@pytest.mark.parametrize("bad", ["", ".", "..", "../elsewhere", "a/b", "studies", "baselines", None, 3])
def test_a_run_id_that_leads_out_of_the_store_is_refused(tmp_path, bad):
    with pytest.raises(ColorbenchError, match="is not a run id"):
        Store(tmp_path).run(bad)


def test_a_study_record_naming_a_path_reads_as_unreadable_not_followed(tmp_path):
    root = write_store(tmp_path / "runs", seeds=(0,), n_images=4)
    path = root / "studies" / "built.json"
    record = json.loads(path.read_text())
    record["runs"][0]["run_id"] = "../../etc"
    path.write_text(json.dumps(record))
    frame = load_runs(root)
    row = frame[frame["run_id"] == "../../etc"].iloc[0]
    assert row["status"] == Status.UNREADABLE.value and "is not a run id" in row["reason"]
    assert not isinstance(row["run_dir"], str)  # nothing outside the store is opened
    assert (frame["status"] == Status.COMPLETED.value).sum() == len(frame) - 1


def test_the_results_frame_holds_status_values_as_plain_strings(tmp_path):
    frame = load_runs(write_store(tmp_path / "runs", seeds=(0,), n_images=4))
    assert {type(s) for s in frame["status"]} == {str}
    assert set(frame["status"]) <= {s.value for s in Status}


def test_planned_and_busy_are_statuses_but_never_a_summarys(tmp_path):
    assert Status.parse("planned") is Status.PLANNED and Status.parse("busy") is Status.BUSY
    assert not Status.PLANNED.never_trained and not Status.PLANNED.finished
    assert [s for s in Status if s.pending] == [Status.NOT_STARTED, Status.RUNNING, Status.INTERRUPTED]
    for status in ("planned", "busy", "no-such-status"):
        with pytest.raises(UnreadableRecordError, match="unknown status"):
            Summary.from_dict({"status": status}, tmp_path / "summary.json")


def test_a_run_outcome_carries_a_status_across_process_boundaries():
    outcome = asdict(RunOutcome("unet-0123456789ab", Status.BUSY, 0.0, "host pid 1"))
    assert outcome["status"] is Status.BUSY
    back = pickle.loads(pickle.dumps(outcome))
    assert back["status"] is Status.BUSY and back["status"] == "busy" and f"{back['status']}" == "busy"
    assert json.loads(json.dumps(outcome))["status"] == "busy"


def test_the_store_names_and_recognises_sample_files(tmp_path):
    run = Store(tmp_path).run("unet-0123456789ab")
    names = [run.sample_path(i).name for i in range(3)] + [run.sample_path(0, "input").name]
    assert samples_of_kind(names) == names[:3]
    assert samples_of_kind(names, "input") == names[3:]
    assert run.sample_path(2).parent == run.samples_dir and run.samples_dir.parent == run.path


def test_the_baseline_names_its_own_sample_files(tmp_path):
    import pandas as pd

    baseline = Store(tmp_path).baseline("k" * 64)
    with baseline.lock():
        baseline.write(
            {"l1_ab": 0.1},
            pd.DataFrame({"image_id": ["a"], "l1_ab": [0.1]}),
            ["a"],
            {(0, "input"): b"png-in", (0, "truth"): b"png-truth"},
        )
    assert baseline.sample_path(0, "input").read_bytes() == b"png-in"
    assert baseline.sample_path(0, "truth").read_bytes() == b"png-truth"
    assert baseline.read_record()["samples"] == ["000_input.png", "000_truth.png"]
    assert baseline.sample_count() == 2 and Path(baseline.path).parent.parent == tmp_path

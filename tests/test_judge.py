"""``colorbench judge``: the page in real headless Chromium, kill -9, paths, tokens, fooling rates.

The store is a real one (a smoke study of three U-Net runs that saved four val images each); the
server is a real ``colorbench judge`` subprocess on a free loopback port; the page is driven by
clicks through selenium, against Debian's chromium and chromium-driver (installed by .ci/run).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from colorbench.errors import ColorbenchError
from colorbench.judge import db, fooling_rates, wilson_interval
from colorbench.judge.trials import Candidate, draw_plan, study_candidates
from colorbench.store import RunDirectory, judgments_db_path

pytest.importorskip("fastapi", reason="colorbench[judge] is not installed")
pytest.importorskip("uvicorn", reason="colorbench[judge] is not installed")

STUDY = "unet-init"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def colorbench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "colorbench", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def smoke_study(module_tmp) -> Path:
    """A completed study of three smoke runs, each with four saved val predictions."""
    store = module_tmp("judge") / "runs"
    result = colorbench(
        "run", "--plugin", "unet", "--vary", "init", "--preset", "smoke",
        "--set", "num_samples=4", "--set", "precision=fp32", "--out", str(store),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return store


@pytest.fixture
def store(smoke_study, tmp_path) -> Path:
    copy = tmp_path / "runs"
    shutil.copytree(smoke_study, copy, symlinks=True)
    return copy


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A ``colorbench judge`` subprocess."""

    def __init__(self, store: Path, port: int, *args: str, log: Path) -> None:
        self.port, self.log = port, log
        command = [sys.executable, "-m", "colorbench", "judge", str(store), "--port", str(port), *args]
        self.process = subprocess.Popen(command, stdout=open(log, "a"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, log.read_text()
            try:
                urllib.request.urlopen(self.url("/api/config"), timeout=2)
                return
            except urllib.error.HTTPError:
                return  # it answers (401 without a token)
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"the judge server did not start: {log.read_text()}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def kill9(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill9()


@pytest.fixture
def servers(tmp_path):
    started: list[Server] = []

    def start(store: Path, *args: str, port: int | None = None) -> Server:
        server = Server(store, port or free_port(), *args, log=tmp_path / "server.log")
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def get_json(url: str, headers: dict | None = None) -> dict:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as r:
        return json.loads(r.read())


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


def raw_status(port: int, path: str, headers: dict | None = None) -> int:
    """The status of a GET sent exactly as written (no client-side normalisation of ``..``)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        return connection.getresponse().status
    finally:
        connection.close()


def rows(store: Path, where: str = "1") -> list[sqlite3.Row]:
    connection = db.connect(judgments_db_path(store), read_only=True)
    try:
        return connection.execute(f"SELECT * FROM judgments WHERE {where} ORDER BY position").fetchall()
    finally:
        connection.close()


# --------------------------------------------------------------------------- the page in a browser
@pytest.fixture
def browser():
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip(
            "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _wait(driver, condition, timeout: float = 30):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


def _ready_trial(driver) -> str:
    """Wait until a trial is shown with its buttons live; its progress line ("Trial 3 of 20")."""
    from selenium.webdriver.common.by import By

    def ready(d):
        button = d.find_element(By.ID, "choose-left")
        shown = d.execute_script(
            "return ['left','right'].every(s => { const i = document.getElementById(s);"
            " return i.complete && i.naturalWidth > 0 && !i.classList.contains('hidden'); });"
        )
        return d.find_element(By.ID, "progress").text if button.is_enabled() and shown else False

    return _wait(driver, ready)


def test_judges_answer_in_chromium_and_kill_9_loses_nothing(store, servers, browser):
    from selenium.webdriver.common.by import By

    options = ("--study", STUDY, "--practice", "2", "--trials", "20", "--show-ms", "0")
    server = servers(store, *options)
    browser.get(server.url("/"))
    _wait(browser, lambda d: d.find_element(By.ID, "start").is_enabled())
    browser.find_element(By.ID, "start").click()
    judge = browser.execute_script("return localStorage.getItem('colorbench.judge')")
    clicks: list[str] = []
    seen: list[str] = []

    def answer_one(choice: str) -> None:
        seen.append(_ready_trial(browser))
        browser.find_element(By.ID, f"choose-{choice}").click()
        clicks.append(choice)

    choices = random.Random(7).choices(["left", "right"], k=22)
    for choice in choices[:2]:  # practice, with feedback
        answer_one(choice)
        _wait(browser, lambda d: d.find_element(By.ID, "feedback").text)
    for choice in choices[2:12]:
        answer_one(choice)
    assert seen[:3] == ["Practice 1 of 2", "Practice 2 of 2", "Trial 1 of 20"]
    assert _ready_trial(browser) == "Trial 11 of 20"

    # kill -9 with the page open: the ten test answers and the two practice answers are on disk.
    server.kill9()
    assert len(rows(store, "practice = 0")) == 10 and len(rows(store, "practice = 1")) == 2
    server = servers(store, *options, port=server.port)
    browser.refresh()  # a new page load: it resumes from the judge id it kept in localStorage
    assert _ready_trial(browser) == "Trial 11 of 20"
    assert browser.execute_script("return localStorage.getItem('colorbench.judge')") == judge

    answer_one(choices[12])
    # Killed again, this time while the judge clicks: the page retries until the server is back.
    assert _ready_trial(browser) == "Trial 12 of 20"
    server.kill9()
    browser.find_element(By.ID, f"choose-{choices[13]}").click()
    clicks.append(choices[13])
    _wait(browser, lambda d: "Waiting" in d.find_element(By.ID, "status").text)
    server = servers(store, *options, port=server.port)
    for choice in choices[14:]:
        answer_one(choice)
    _wait(browser, lambda d: d.find_element(By.ID, "finished").is_displayed())

    answered = rows(store)
    assert len(answered) == 22
    assert [r["practice"] for r in answered] == [1, 1] + [0] * 20
    test_rows = [r for r in answered if not r["practice"]]
    assert len(test_rows) == 20 and {r["judge"] for r in answered} == {judge}
    assert [r["position"] for r in answered] == list(range(22))
    assert [r["choice"] for r in answered] == clicks  # each click, in order, once
    for r in answered:
        assert r["correct"] == (r["choice"] == r["real_side"]) and r["fooled"] == 1 - r["correct"]
        assert r["response_ms"] > 0 and r["answered_at"]
    per_run = Counter(r["run_id"] for r in test_rows)
    assert len(per_run) == 3 and max(per_run.values()) - min(per_run.values()) <= 1  # balanced

    rates = fooling_rates(store, STUDY)
    assert sum(rate.n_answers for rate in rates) == 20
    assert {rate.run_id for rate in rates} == set(per_run) and all(rate.n_judges == 1 for rate in rates)
    assert sum(rate.n_fooled for rate in rates) == sum(r["fooled"] for r in test_rows)
    status = get_json(server.url(f"/api/progress?judge={judge}"))
    assert status["test_answers"] == 20 and status["judge"]["test_done"] == 20
    assert get_json(server.url(f"/api/next?judge={judge}"))["finished"] is True

    # A new judge (another browser profile) on a server with a display time: the pair is hidden
    # after it, and the answer can still be given.
    server.stop()
    server = servers(store, "--study", STUDY, "--practice", "0", "--trials", "2", "--show-ms", "400")
    browser.execute_script("localStorage.clear()")
    browser.get(server.url("/"))
    _wait(browser, lambda d: d.find_element(By.ID, "start").is_enabled())
    browser.find_element(By.ID, "start").click()
    hidden = "return ['left','right'].every(s => document.getElementById(s).classList.contains('hidden'))"
    _wait(browser, lambda d: d.find_element(By.ID, "progress").text == "Trial 1 of 2")
    _wait(browser, lambda d: d.execute_script(hidden) and d.find_element(By.ID, "choose-left").is_enabled())
    browser.find_element(By.ID, "choose-right").click()
    _wait(browser, lambda d: d.find_element(By.ID, "progress").text == "Trial 2 of 2")
    other = browser.execute_script("return localStorage.getItem('colorbench.judge')")
    assert other != judge and [r["show_ms"] for r in rows(store, f"judge = '{other}'")] == [400]


# --------------------------------------------------------------------------- the JSON interface
def test_several_judges_at_once_are_all_recorded_and_balanced(store, servers):
    server = servers(store, "--practice", "1", "--trials", "9", "--show-ms", "500")
    judges = [f"judge-{k:04d}" for k in range(4)]
    errors: list[BaseException] = []

    def judge_all(judge: str) -> None:
        try:
            while True:
                trial = get_json(server.url(f"/api/next?judge={judge}"))
                if trial["finished"]:
                    return
                for side in ("left", "right"):
                    with urllib.request.urlopen(server.url(trial[side]), timeout=10) as r:
                        assert r.headers["Content-Type"] == "image/png" and r.read(8) == b"\x89PNG\r\n\x1a\n"
                reply = post_json(
                    server.url("/api/answer"), {"trial_id": trial["trial_id"], "choice": "left", "ms": 5}
                )
                assert reply["recorded"] and ("correct" in reply) == trial["practice"]
        except BaseException as exc:  # noqa: BLE001 -- reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=judge_all, args=(j,)) for j in judges]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    answered = rows(store)
    assert len(answered) == 4 * 10 and Counter(r["judge"] for r in answered) == dict.fromkeys(judges, 10)
    per_run = Counter(r["run_id"] for r in answered if not r["practice"])
    assert sorted(per_run.values()) == [12, 12, 12]  # 36 test trials over 3 runs, across judges
    sides = Counter(r["real_side"] for r in answered if not r["practice"] and r["judge"] == judges[0])
    assert abs(sides["left"] - sides["right"]) <= 1

    # An answer sent twice (a retry) is recorded once; unknown trials and bad answers are refused.
    first = answered[0]["trial_id"]
    assert post_json(server.url("/api/answer"), {"trial_id": first, "choice": "right", "ms": 1})["duplicate"]
    assert len(rows(store)) == 40
    for body, code in (({"trial_id": "nope", "choice": "left", "ms": 1}, 404),
                       ({"trial_id": first, "choice": "up", "ms": 1}, 422),
                       ({"trial_id": first, "choice": "left", "ms": -5}, 422)):  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as refused:
            post_json(server.url("/api/answer"), body)
        assert refused.value.code == code
    with pytest.raises(urllib.error.HTTPError) as refused:
        get_json(server.url("/api/next?judge=a/b"))
    assert refused.value.code == 400


def test_no_path_outside_the_store_is_served(store, servers, tmp_path):
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"\x89PNG\r\n\x1a\nsecret")
    for run in study_candidates(store, STUDY):  # every colorized photo: a symlink out of the store
        directory = RunDirectory(store / run.run_id)
        for index in directory.saved_samples("pred"):
            directory.sample_path(index).unlink()
            directory.sample_path(index).symlink_to(outside)
    server = servers(store, "--practice", "0", "--trials", "3")
    trial = get_json(server.url("/api/next?judge=escaper-01"))
    statuses = {side: raw_status(server.port, trial[side]) for side in ("left", "right")}
    assert sorted(statuses.values()) == [200, 403]  # the real photo is served, the escape refused
    for path in (
        "/api/image/../../../../etc/passwd",
        "/api/image/..%2F..%2F..%2Fetc%2Fpasswd/left",
        "/api/image/%2Fetc%2Fpasswd/left",
        "//etc/passwd",
        f"/api/image/{trial['trial_id']}/..%2F..%2Fconfig.json",
        f"/api/image/{trial['trial_id']}/%2Fetc%2Fpasswd",
    ):
        assert raw_status(server.port, path) in (403, 404), path


def test_a_host_beyond_loopback_requires_the_token(store, servers, tmp_path):
    server = servers(store, "--host", "0.0.0.0", "--practice", "0", "--trials", "2")
    log = (tmp_path / "server.log").read_text()
    token = log.split("?token=")[1].split()[0]
    assert len(token) >= 16
    for path in ("/", "/api/config", "/api/next?judge=someone-1", "/api/progress"):
        assert raw_status(server.port, path) == 401, path
        assert raw_status(server.port, path, {"X-Colorbench-Token": "wrong"}) == 401, path
        assert raw_status(server.port, path, {"X-Colorbench-Token": token}) == 200, path
    trial = get_json(server.url("/api/next?judge=someone-1"), {"X-Colorbench-Token": token})
    assert raw_status(server.port, trial["left"]) == 401
    # The page's link carries the token once; the browser then holds it as a cookie.
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", f"/?token={token}")
    response = connection.getresponse()
    cookie = response.getheader("set-cookie").split(";")[0]
    assert response.status == 200 and token in cookie
    connection.close()
    assert raw_status(server.port, trial["left"], {"Cookie": cookie}) == 200


def test_usage_errors_are_one_line(store, tmp_path):
    cases = [
        (("judge", str(tmp_path / "nowhere")), "no results store"),
        (("judge", str(store), "--study", "nope"), "no study 'nope'"),
        (("judge", str(store), "--token", " "), "--token"),
    ]
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    cases.append((("judge", str(store), "--port", str(taken.getsockname()[1])), "cannot listen on"))
    unseen = tmp_path / "unseen"
    shutil.copytree(store, unseen, symlinks=True)
    for run in study_candidates(unseen, STUDY):  # runs that saved no val image: nothing to show
        for index in run.images:
            RunDirectory(unseen / run.run_id).sample_path(index).unlink()
    cases.append((("judge", str(unseen)), "no completed run with saved val images"))
    damaged = tmp_path / "damaged"
    shutil.copytree(store, damaged, symlinks=True)
    judgments_db_path(damaged).parent.mkdir()
    judgments_db_path(damaged).write_bytes(b"not a database, " * 64)
    cases.append((("judge", str(damaged)), "cannot use the judgments database"))
    blocked = tmp_path / "blocked"
    shutil.copytree(store, blocked, symlinks=True)
    judgments_db_path(blocked).parent.write_text("a file where the folder belongs")
    cases.append((("judge", str(blocked)), "cannot use"))
    for args, words in cases:
        result = colorbench(*args, timeout=60)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("error:") and words in result.stderr
    taken.close()


def test_without_the_extra_it_says_what_to_install(store):
    code = "import sys; sys.modules['fastapi'] = None; from colorbench.cli import main; main()"
    result = subprocess.run(
        [sys.executable, "-c", code, "judge", str(store)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error:") and "pip install 'colorbench[judge]'" in line


# --------------------------------------------------------------------------- the analysis
def test_wilson_interval_matches_published_values():
    assert wilson_interval(0, 20) == pytest.approx((0.0, 0.16113), abs=1e-4)
    assert wilson_interval(10, 20) == pytest.approx((0.29929, 0.70071), abs=1e-4)
    assert wilson_interval(20, 20) == pytest.approx((0.83887, 1.0), abs=1e-4)
    low, high = wilson_interval(0, 0)
    assert low != low and high != high  # nan: no answers, no interval


def _candidates() -> list[Candidate]:
    return [
        Candidate(f"unet-{k}", "unet", setting, seed, "key", (0, 1, 2), ("a.jpg", "b.jpg", "c.jpg"))
        for k, (setting, seed) in enumerate([("default", 0), ("default", 1), ("init=xavier", 0)])
    ]


def test_fooling_rates_count_test_answers_per_run_and_per_setting(tmp_path):
    store = tmp_path / "runs"
    path = db.initialize(judgments_db_path(store))
    assert fooling_rates(tmp_path / "empty") == []  # no one has judged: nothing, never a number
    connection = db.connect(path)
    planned: dict[str, int] = {}
    for judge in ("judge-aaaa", "judge-bbbb"):
        plan = draw_plan(
            _candidates(), study="s", judge=judge, n_practice=2, n_test=6, show_ms=1000,
            planned=planned, rng=random.Random(judge),
        )  # fmt: skip
        db.insert_plan(connection, plan)
        planned = db.planned_test_counts(connection, "s")
        for trial in plan:  # judge a: always the real photo; judge b: always the colorized one
            choice = trial.real_side if judge == "judge-aaaa" else trial.colorized_side
            assert db.record_answer(connection, trial, choice, 100.0)
    assert sorted(planned.values()) == [4, 4, 4]
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        connection.execute("UPDATE judgments SET choice = 'left'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        connection.execute("DELETE FROM judgments")
    connection.close()

    per_run = fooling_rates(store, "s")
    assert [(r.run_id, r.n_answers, r.n_fooled, r.n_judges) for r in per_run] == [
        ("unet-0", 4, 2, 2),
        ("unet-1", 4, 2, 2),
        ("unet-2", 4, 2, 2),
    ]
    assert per_run[0].rate == 0.5 and (per_run[0].low, per_run[0].high) == wilson_interval(2, 4)
    per_setting = fooling_rates(path, by="setting")
    assert [(r.setting, r.run_id, r.n_answers, r.n_fooled) for r in per_setting] == [
        ("default", None, 8, 4),
        ("init=xavier", None, 4, 2),
    ]
    assert fooling_rates(store, "another study") == []
    damaged = tmp_path / "damaged.sqlite"
    damaged.write_bytes(b"not a database, " * 64)
    with pytest.raises(ColorbenchError, match="cannot read the judgments database"):
        fooling_rates(damaged)

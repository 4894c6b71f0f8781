"""Pure logic of deploys (no host needed): jump parsing, environment planning, history,
the parallel fan-out's stop rules."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from modeldeck.core.deploy import envs
from modeldeck.core.deploy import rollout as ro
from modeldeck.core.deploy.transport import Endpoint, parse_jump
from modeldeck.core.errors import DeployError
from modeldeck.core.progress import CancelToken


@pytest.mark.parametrize(("text", "expected"), [
    ("bastion", Endpoint("bastion", 22, "")),
    ("ops@bastion", Endpoint("bastion", 22, "ops")),
    ("ops@bastion:2222", Endpoint("bastion", 2222, "ops")),
    ("[10.0.0.1]:2200", Endpoint("10.0.0.1", 2200, "")),
    ("a@j1:22,b@j2", Endpoint("j1", 22, "a")),
])
def test_parse_jump(text: str, expected: Endpoint) -> None:
    assert parse_jump(text) == expected


@pytest.mark.parametrize("text", ["ops@", "host:0", "host:99999", "host:x"])
def test_parse_jump_rejects_bad_values(text: str) -> None:
    with pytest.raises(DeployError, match="ProxyJump"):
        parse_jump(text)


def test_known_hosts_name_brackets_other_ports() -> None:
    assert Endpoint("127.0.0.2", 22).known_hosts_name == "127.0.0.2"
    assert Endpoint("127.0.0.2", 2222).known_hosts_name == "[127.0.0.2]:2222"


def test_parse_release_id() -> None:
    assert ro.parse_release_id("breast-cancer-v2-0123abcd4567") == ("breast-cancer", 2)
    assert ro.parse_release_id("x-v10-aaaaaaaaaaaa") == ("x", 10)
    assert ro.parse_release_id("odd") == ("odd", None)


def test_requirements_follow_the_models_environment() -> None:
    req = envs.requirements_for({"scikit-learn": "1.5.2", "numpy": "2.0.1"}, "skops")
    assert req.packages["scikit-learn"] == "1.5.2"
    assert req.packages["numpy"] == "2.0.1"
    assert set(req.packages) == set(envs.RUNTIME_PACKAGES)
    assert "onnxruntime" in envs.requirements_for({}, "onnx").packages
    assert req.text().splitlines()[0].startswith("numpy==")


def test_unmet_pins_scikit_learn_exactly_and_others_by_minor_version() -> None:
    req = envs.Requirements({"scikit-learn": "1.5.2", "numpy": "2.0.1", "waitress": "3.0.2"})
    assert envs.unmet(req, {"scikit-learn": "1.5.2", "numpy": "2.0.9",
                            "waitress": "3.0.0"}) == []
    problems = envs.unmet(req, {"scikit-learn": "1.5.1", "numpy": "1.26.4"})
    assert problems == ["numpy 1.26.4, built with 2.0.1",
                        "scikit-learn 1.5.1, model needs 1.5.2", "waitress (missing)"]


def test_wheelhouse_reads_hashes_and_names_missing_wheels(tmp_path: Path) -> None:
    for name in ("numpy-2.0.1-cp311-cp311-manylinux_2_17_x86_64.whl",
                 "scikit_learn-1.5.2-cp311-cp311-manylinux_2_17_x86_64.whl"):
        (tmp_path / name).write_bytes(name.encode())
    house = envs.open_wheelhouse(tmp_path)
    assert len(house.files) == 2 and (tmp_path / "wheels.json").is_file()
    req = envs.Requirements({"scikit-learn": "1.5.2", "numpy": "2.0.1", "waitress": "3.0.2"})
    assert envs.missing_from(house, req) == ["waitress==3.0.2"]
    again = envs.open_wheelhouse(tmp_path)  # served from the index, same answer
    assert again.files == house.files


def test_empty_wheelhouse_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DeployError, match="no .whl files"):
        envs.open_wheelhouse(tmp_path)
    with pytest.raises(DeployError, match="not a folder"):
        envs.open_wheelhouse(tmp_path / "nope")


def test_platform_tags_cover_older_manylinux() -> None:
    tags = envs.platform_tags("x86_64", "glibc 2.36")
    assert tags[0] == "manylinux_2_36_x86_64"
    assert "manylinux_2_17_x86_64" in tags and "manylinux2014_x86_64" in tags
    with pytest.raises(DeployError, match="libc"):
        envs.platform_tags("x86_64", "musl")


def _host(name: str) -> SimpleNamespace:
    return SimpleNamespace(name=name)


def _run_fan_out(names: list[str], fail: set[str], parallel: int,
                 cancel: CancelToken | None = None) -> tuple[list[ro.HostResult], int]:
    peak = 0
    active = 0
    lock = threading.Lock()

    def work(host: SimpleNamespace, emit: object) -> ro.HostResult:
        nonlocal peak, active
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.02)
        with lock:
            active -= 1
        return ro.HostResult(host=host.name, action="deploy",
                             outcome="failed" if host.name in fail else "ok")

    items = list(ro._fan_out([_host(n) for n in names], work, parallel,
                             cancel or CancelToken(), 0, len(names)))
    return [i for i in items if isinstance(i, ro.HostResult)], peak


def test_fan_out_runs_hosts_in_parallel() -> None:
    results, peak = _run_fan_out([f"h{i}" for i in range(8)], set(), 4)
    assert sorted(r.host for r in results) == sorted(f"h{i}" for i in range(8))
    assert all(r.ok for r in results)
    assert 2 <= peak <= 4


def test_fan_out_cancelled_starts_nothing_new() -> None:
    cancel = CancelToken()
    cancel.cancel()
    results, _ = _run_fan_out(["a", "b"], set(), 1, cancel)
    assert {r.outcome for r in results} == {"skipped"}
    assert all(r.error == "cancelled" for r in results)


def test_closing_the_consumer_still_collects_every_started_host() -> None:
    cancel = CancelToken()
    names = ["a", "b", "c", "d"]

    def work(host: SimpleNamespace, emit: object) -> ro.HostResult:
        emit(ro.DeployEvent(step="uploading", host=host.name))
        time.sleep(0.05)
        outcome = "cancelled" if cancel.is_cancelled else "ok"
        return ro.HostResult(host=host.name, action="deploy", outcome=outcome)

    got: list[ro.HostResult] = []
    consumer = ro._consume(ro._fan_out([_host(n) for n in names], work, 2, cancel, 0,
                                       len(names)), got.append, cancel)
    next(consumer)  # the first event: hosts a and b are running
    consumer.close()  # what a GUI worker does when its task is cancelled
    assert cancel.is_cancelled
    assert sorted(r.host for r in got) == names  # nobody lost: started ones and skipped ones
    assert {r.outcome for r in got if r.host in ("c", "d")} == {"skipped"}


def test_the_switch_gate_opens_when_the_wave_is_staged_and_only_within_tolerance() -> None:
    from concurrent.futures import ThreadPoolExecutor

    def wave(staged: int, failed: int, tolerated: int, cancel: CancelToken | None = None
             ) -> list[bool]:
        gate = ro.SwitchGate(staged + failed, tolerated, cancel or CancelToken())
        with ThreadPoolExecutor(staged + failed) as pool:
            waits = [pool.submit(gate.staged) for _ in range(staged)]
            for _ in range(failed):
                pool.submit(gate.failed)
            return [w.result(timeout=10) for w in waits]

    assert wave(3, 0, 0) == [True] * 3
    assert wave(2, 1, 0) == [False] * 2
    assert wave(2, 1, 1) == [True] * 2
    cancel = CancelToken()
    cancel.cancel()
    assert wave(2, 0, 0, cancel) == [False] * 2


def test_the_frozen_desktop_app_builds_wheelhouses_with_a_python_on_the_path(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sys

    assert envs._pip() == [sys.executable, "-m", "pip"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)  # as in dist/ModelDeck
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DeployError, match="needs a Python with pip") as refused:
        envs._pip()
    assert "--wheelhouse DIR" in (refused.value.fix or "")
    python = tmp_path / "python3"
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    assert envs._pip() == [str(python), "-m", "pip"]

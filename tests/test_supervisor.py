"""tools/supervisor.py: the study's and the campaign's children get one SIGINT each, however
many stops arrive, and their CPU time and pinning are what the ledgers record."""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("supervisor", REPO / "tools" / "supervisor.py")
supervisor = importlib.util.module_from_spec(_spec)
sys.modules["supervisor"] = supervisor  # dataclasses look their module up there
_spec.loader.exec_module(supervisor)

# Counts the SIGINTs it gets (one line each) and leaves 1.5 s after the first, exit 130: as
# segnet train does, except that it would die at once on a second one.
CHILD = r"""
import signal, sys, time
from pathlib import Path
out = Path(sys.argv[1])
first = []
def on_int(signum, frame):
    with open(out, "a") as f:
        f.write("SIGINT\n")
    first.append(time.monotonic())
signal.signal(signal.SIGINT, on_int)
Path(sys.argv[2]).touch()
deadline = time.monotonic() + 30
while time.monotonic() < deadline and not (first and time.monotonic() > first[0] + 1.5):
    time.sleep(0.01)
sys.exit(130 if first else 0)
"""


@pytest.fixture(autouse=True)
def sigint_not_ignored():
    """Children inherit an ignored SIGINT (pytest started as `cmd &` by a script); the tools'
    stop_on_signals replaces it with a handler, which exec resets to the default: do the same."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def _wait_for(path: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


@pytest.mark.parametrize("stops", [1, 3])
def test_a_running_child_gets_one_sigint_however_many_stops(tmp_path, stops):
    sup = supervisor.Supervisor(tmp_path)
    seen, ready = tmp_path / "seen", tmp_path / "ready"
    result = {}
    thread = threading.Thread(target=lambda: result.update(
        r=sup.run([sys.executable, "-c", CHILD, str(seen), str(ready)], tmp_path / "log")))
    thread.start()
    _wait_for(ready)
    for _ in range(stops):
        sup.stop()
        time.sleep(0.2)  # apart, so that the kernel cannot merge repeated SIGINTs into one
    thread.join(60)
    assert result["r"].code == 130
    assert seen.read_text().splitlines() == ["SIGINT"]
    assert sup.stopping


def test_a_child_started_after_stop_is_interrupted_once(tmp_path):
    sup = supervisor.Supervisor(tmp_path)
    sup.stop()
    seen = tmp_path / "seen"
    r = sup.run([sys.executable, "-c", CHILD, str(seen), str(tmp_path / "ready")], tmp_path / "log")
    # the SIGINT may land before the child's handler is installed: then it kills the child (-2) or
    # Python's default raises KeyboardInterrupt (exit 1) - still exactly one signal
    assert r.code in (130, 1, -signal.SIGINT)
    assert not seen.exists() or seen.read_text().splitlines() == ["SIGINT"]


def test_cpu_time_counts_the_child_and_sleep_costs_none(tmp_path):
    sup = supervisor.Supervisor(tmp_path)
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass\n"
    r = sup.run([sys.executable, "-c", busy], tmp_path / "log")
    assert r.code == 0 and r.cpu_s >= 0.35 and r.peak_rss_mib > 1
    idle = sup.run([sys.executable, "-c", "import time; time.sleep(0.6)"], tmp_path / "log")
    assert idle.wall_s >= 0.6 and idle.cpu_s < 0.4


def test_pinned_child_runs_on_its_core_and_the_log_says_so(tmp_path):
    core = min(os.sched_getaffinity(0))
    sup = supervisor.Supervisor(tmp_path)
    script = "import os; print('cores', sorted(os.sched_getaffinity(0)))"
    r = sup.run([sys.executable, "-c", script], tmp_path / "log", env={"SEGNET_X": "1"}, core=core)
    text = (tmp_path / "log").read_text()
    assert r.code == 0
    assert f"cores [{core}]" in text and f"# core {core}," in text

"""tools/campaign.py: phases run in chunks until their CPU budget or their epochs end, the next
phase starts from the last one's best.pt, the ledger names machine and precision of each chunk,
a second run resumes (and trains nothing more once done), and a bad plan is one line."""

import csv
import json
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parent.parent
TOOL = REPO / "tools" / "campaign.py"
TINY = """model: {{name: fc_densenet,
         options: {{growth_rate: 4, down_layers: [2, 2], bottleneck_layers: 2, first_channels: 8}}}}
data: {{root: {root}, limit_train: 8, limit_val: 1, scale: 0.25, num_workers: 0}}
train: {{crop_size: 64, batch_size: 4, epochs: 3}}
finetune: {{enabled: false}}
loss: {{class_weights: none}}
threads: 1
progress: false
"""


def campaign(*args, cwd):
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          check=False)


def test_two_phases_in_chunks_with_ledger_and_curve(tmp_path, camvid_root):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY.format(root=camvid_root))
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"phases:\n  - {{name: first, recipe: {recipe}, cpu_hours: 0.0001}}\n"
                    f"  - {{name: second, recipe: {recipe}, cpu_hours: 1, overrides: [train.lr=0.0005]}}\n")
    runs, log = tmp_path / "runs", tmp_path / "log"
    args = ("--plan", plan, "--runs", runs, "--log", log, "--chunk-minutes", "0.0001")  # one epoch per chunk
    done = campaign("run", *args, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr

    ledger = json.loads((log / "ledger.json").read_text())
    # the first phase's tiny budget is spent by its first chunk; the second runs until its 3 epochs are done
    assert [(c["phase"], c["epoch"], c["finished"]) for c in ledger] == [
        ("first", 1, False), ("second", 1, False), ("second", 2, False), ("second", 3, True)]
    assert all(c["exit"] == 0 and c["cpu_s"] > 0 and c["machine"] and c["precision"] in ("float32", "bfloat16")
               for c in ledger)
    assert "--resume" in ledger[2]["command"] and "load_from=" in ledger[1]["command"]
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
    assert all(c["code"].split("+")[0] == head.stdout.strip() for c in ledger)  # the code that trained each chunk
    # each chunk's start, as the log's header line for its child says (not the time the chunk ended)
    headers = [line.rsplit("# ", 1)[1][-19:] for phase in ("first", "second")
               for line in (runs / f"{phase}.log").read_text().splitlines() if line.startswith("$ ")]
    gaps = [abs(datetime.fromisoformat(c["started"]) - datetime.fromisoformat(h)).total_seconds()
            for c, h in zip(ledger, headers)]
    assert len(headers) == 4 and max(gaps) <= 1, (ledger, headers)
    second = OmegaConf.load(runs / "second" / "config.yaml")
    assert second.load_from == str(runs / "first" / "best.pt") and second.train.lr == 0.0005
    with open(log / "second.csv", newline="") as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["1", "2", "3"]
    assert (log / "first.csv").is_file() and (log / "val_miou_vs_cpu_hours.png").stat().st_size > 10_000

    again = campaign("run", *args, cwd=tmp_path)
    assert again.returncode == 0 and json.loads((log / "ledger.json").read_text()) == ledger


def test_a_bad_plan_is_one_line(tmp_path):
    for text, words in [("phases: []\n", "no 'phases'"),
                        ("phases:\n  - {name: a, cpu_hours: 1}\n", "needs name, recipe"),
                        ("phases:\n  - {name: a, recipe: nowhere.yaml, cpu_hours: 1}\n", "recipe not found")]:
        plan = tmp_path / "plan.yaml"
        plan.write_text(text)
        done = campaign("run", "--plan", plan, "--runs", tmp_path / "r", "--log", tmp_path / "l", cwd=tmp_path)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and words in done.stderr, done.stderr


def test_a_lost_run_folder_goes_on_from_the_committed_weights(tmp_path, camvid_root):
    """Another machine: the run folder is gone, the log folder (committed) is not. The phase goes on
    from <phase>.restart.pt at the epoch after the ledger's last chunk, with the lr it would have had."""
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY.format(root=camvid_root) + "optim: {name: sgd, momentum: 0.9}\n")
    runs, log, plan = tmp_path / "runs", tmp_path / "log", tmp_path / "plan.yaml"
    overrides = "[train.epochs=4, train.lr=0.01, train.lr_decay=0.5]"
    args = ("--plan", plan, "--runs", runs, "--log", log, "--chunk-minutes", "0.0001")
    plan.write_text(f"phases:\n  - {{name: only, recipe: {recipe}, cpu_hours: 0.0001, overrides: {overrides}}}\n")
    first = campaign("run", *args, cwd=tmp_path)  # the tiny budget ends the phase after one chunk
    assert first.returncode == 0, first.stdout + first.stderr
    assert (log / "only.restart.pt").is_file() and (log / "only.best.pt").is_file()
    cpu_before = float(json.loads((log / "ledger.json").read_text())[0]["cpu_s"])

    shutil.rmtree(runs)  # the machine is lost; the budget grows
    plan.write_text(f"phases:\n  - {{name: only, recipe: {recipe}, cpu_hours: 1, overrides: {overrides}}}\n")
    first_best = (log / "only.best.pt").read_bytes()
    done = campaign("run", *args, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr

    ledger = json.loads((log / "ledger.json").read_text())
    assert [(c["epoch"], c["finished"]) for c in ledger] == [(1, False), (2, False), (3, False), (4, True)]
    assert (f"load_from={log / 'only.restart.pt'}" in ledger[1]["command"]
            and "train.start_epoch=2" in ledger[1]["command"])
    assert "--resume" in ledger[2]["command"]
    with open(log / "only.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    assert [float(r["lr"]) for r in rows] == pytest.approx([0.01, 0.005, 0.0025, 0.00125])
    cpu = [float(r["cpu_minutes"]) for r in rows]
    assert cpu == sorted(cpu) and cpu[1] > cpu[0] > 0 and cpu[0] * 60 <= cpu_before
    # the finished phase's weights, for a next phase: those of the raised budget, not the first chunk's
    assert (log / "only.best.pt").read_bytes() != first_best
    shipped = (log / "only.best.pt").read_bytes()
    assert campaign("run", *args, cwd=tmp_path).returncode == 0 and (log / "only.best.pt").read_bytes() == shipped


def test_the_shipped_plan_reads(tmp_path):
    """configs/campaign/plan.yaml names recipes that exist (tests/test_config.py loads them)."""
    done = campaign("report", "--plan", REPO / "configs/campaign/plan.yaml", "--runs", tmp_path / "r",
                    "--log", tmp_path / "l", cwd=tmp_path)
    assert done.returncode == 0 and "nothing to draw" in done.stdout, done.stdout + done.stderr

"""tools/encoder_study.py end to end on a tiny budget: train, measure, resume, summary, figure, table.

Two models (the cheapest of each family), one epoch on 4 train crops of 32x32 at quarter scale,
2 val frames, 1 test frame, the torch runtime (the default runtime converts each checkpoint to
OpenVINO first, which a test does not need to repeat). The tool runs as its users run it: a
command, whose children are pinned to the first core this process may use.
"""

import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TOOL = REPO / "tools" / "encoder_study.py"
TINY = ["--epochs", "1", "--set", "data.limit_train=4", "data.limit_val=2", "train.crop_size=32", "data.scale=0.25",
        "--limit-test", "1", "--frames", "1", "--backend", "torch"]


def study(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python tools/encoder_study.py ARGS``; a ``run`` pins its children to this process's first core."""
    pin = ["--cores", str(min(os.sched_getaffinity(0)))] if args[0] == "run" else []
    return subprocess.run([sys.executable, str(TOOL), *args, *pin], capture_output=True, text=True, cwd=cwd,
                          env=dict(os.environ, OMP_NUM_THREADS="1"), check=False)


def test_study_runs_resumes_and_reports(tmp_path, camvid_root):
    runs, out = tmp_path / "runs", tmp_path / "out"
    common = ["--data-root", str(camvid_root), "--runs", str(runs), "--out", str(out), *TINY]
    first = study("run", "--models", "fc_densenet56", *common, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr

    second = study("run", "--models", "fc_densenet56", "resnet34", *common, cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "fc_densenet56 seed 0: done already, skipped" in second.stdout
    assert "fc_densenet56 seed 0: training" not in second.stdout
    assert "resnet34 seed 0: training (1 epochs)" in second.stdout
    log = (runs / "fc_densenet56-seed0" / "study.log").read_text()
    assert log.count("-m segnet train") == 1  # trained once, never again

    with open(out / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["model"] for r in rows] == ["resnet34", "fc_densenet56"]
    for column in ("test_miou", "iou_Car", "params_m", "gflops_360x480", "train_img_s", "peak_rss_mib",
                   "step_peak_mib", "infer_cpu_s_frame", "train_cpu_h", "miou_per_cpu_h"):
        assert all(r[column] not in ("", "nan") for r in rows), column
    assert rows[0]["test_frames"] == "1" and rows[0]["budget"] == "1 epochs"
    assert 24 < float(rows[0]["params_m"]) < 25  # U-Net ResNet-34: 24.4 M
    assert (out / "miou_vs_cpu_hours.png").stat().st_size > 10_000
    assert (out / "val_miou_vs_cpu_minutes.png").stat().st_size > 10_000
    with open(out / "resnet34-seed0.csv", newline="") as f:
        epochs = list(csv.DictReader(f))
    assert epochs[0]["stage"] == "train" and epochs[0]["cpu_minutes_from"] == "measured"
    assert 0 < float(epochs[0]["cpu_minutes"]) <= float(rows[0]["train_cpu_h"]) * 60  # within the child's CPU
    for name in ("study", "result"):  # published beside the CSV: what --epochs-from reads later
        assert json.loads((out / f"resnet34-seed0.{name}.json").read_text()) == \
            json.loads((runs / "resnet34-seed0" / f"{name}.json").read_text())

    doc = tmp_path / "encoders.md"
    doc.write_text("# x\n<!-- encoder-study:table -->\npending\n<!-- /encoder-study:table -->\nafter\n"
                   "<!-- encoder-study:efficiency -->\n<!-- /encoder-study:efficiency -->\n")
    table = study("table", "--out", str(out), "--write", str(doc), cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    text = doc.read_text()
    assert "| resnet34 | 1 |" in text and "pending" not in text and "after\n" in text
    line = next(t for t in text.splitlines() if t.startswith("| resnet34 | ") and "per" not in t and t.count("|") == 7)
    test_miou, per_param = (float(c.strip("* ")) for c in line.split("|")[2:4])
    assert per_param == pytest.approx(test_miou / float(rows[0]["params_m"]), abs=0.01)


def test_a_larger_budget_continues_the_smaller_budgets_runs(tmp_path, camvid_root):
    small, large = tmp_path / "e1", tmp_path / "e2"
    common = ["--data-root", str(camvid_root), "--models", "resnet34", *TINY[2:]]
    done = study("run", "--epochs", "1", "--runs", str(small), "--out", str(tmp_path / "o1"), "--train-only",
                 *common, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resnet34 seed 0: trained (measured by a later run" in done.stdout
    assert not (small / "resnet34-seed0" / "result.json").exists() and not (tmp_path / "o1").exists()
    done = study("run", "--epochs", "2", "--runs", str(large), "--out", str(tmp_path / "o2"),
                 "--extend-from", str(small), *common, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resnet34 seed 0: continuing (2 epochs)" in done.stdout
    run = large / "resnet34-seed0"
    assert (run / "study.log").read_text().count("-m segnet train --config") == 1  # the copied first epoch only
    first, extended = (report_rows(d / "resnet34-seed0") for d in (small, large))
    assert [r["epoch"] for r in extended] == ["1", "2"] and extended[0] == first[0]
    ledger = json.loads((run / "study.json").read_text())
    assert ledger["extended_from"]["budget"] == "1 epochs" and ledger["conditions"]["budget"] == "2 epochs"
    assert json.loads((run / "result.json").read_text())["epochs"] == 2  # measured: no --train-only this time

    again = study("run", "--epochs", "3", "--runs", str(tmp_path / "e3"), "--out", str(tmp_path / "o3"),
                  "--extend-from", str(tmp_path / "nothing"), *common, cwd=tmp_path)
    assert again.returncode == 2 and "holds no finished run" in again.stderr.strip().splitlines()[-1]


def test_another_recipe_trains_as_many_epochs_as_the_first_did(tmp_path, camvid_root):
    """--epochs-from: the recipe comparison (SGD + warm-up + cosine, which needs its epoch count) at
    the budget the first recipe's runs had."""
    first, second = tmp_path / "adam", tmp_path / "sgd"
    common = ["--data-root", str(camvid_root), "--models", "resnet34", *TINY[2:]]
    common += ["--train-only"]  # the measurements are test_study_runs_resumes_and_reports's
    done = study("run", "--epochs", "3", "--runs", str(first), "--out", str(tmp_path / "o1"), *common, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    done = study("run", "--epochs-from", str(first), "--recipe", str(REPO / "configs/study/encoders_sgd.yaml"),
                 "--runs", str(second), "--out", str(tmp_path / "o2"), *common, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resnet34 seed 0: training (epochs of adam)" in done.stdout
    rows = report_rows(second / "resnet34-seed0")
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert [round(float(r["lr"]), 6) for r in rows] == [round(1e-2 / 3, 6), round(2e-2 / 3, 6), 1e-2]  # warm-up
    # the same count from the first runs as published beside the table, once their folders are gone
    published = tmp_path / "published" / "adam"
    published.mkdir(parents=True)
    shutil.copy(first / "resnet34-seed0" / "study.json", published / "resnet34-seed0.study.json")
    shutil.copy(first / "resnet34-seed0" / "metrics.csv", published / "resnet34-seed0.csv")
    again = study("run", "--epochs-from", str(published), "--recipe", str(REPO / "configs/study/encoders_sgd.yaml"),
                  "--runs", str(second), "--out", str(tmp_path / "o2"), *common, cwd=tmp_path)
    assert again.returncode == 0 and "resnet34 seed 0: trained" in again.stdout, again.stdout + again.stderr
    (published / "resnet34-seed0.study.json").write_text(json.dumps({"train_done": False}))
    unfinished = study("run", "--epochs-from", str(published), "--runs", str(tmp_path / "x"), *common, cwd=tmp_path)
    assert unfinished.returncode == 2 and "is not a finished run" in unfinished.stderr
    # a larger budget as a multiple of those epochs: --epochs-factor (refused without --epochs-from)
    scaled = study("run", "--epochs-from", str(first), "--epochs-factor", "0.34", "--runs", str(tmp_path / "short"),
                   "--out", str(tmp_path / "o3"), *common, cwd=tmp_path)
    assert scaled.returncode == 0 and "training (0.34x epochs of adam)" in scaled.stdout, scaled.stdout + scaled.stderr
    assert [r["epoch"] for r in report_rows(tmp_path / "short" / "resnet34-seed0")] == ["1"]  # round(0.34 x 3)
    alone = study("run", "--epochs", "2", "--epochs-factor", "3", "--runs", str(tmp_path / "y"), *common, cwd=tmp_path)
    assert alone.returncode == 2 and "give both" in alone.stderr
    mixed = study("run", "--epochs-from", str(first), "--epochs", "2", "--runs", str(second), *common, cwd=tmp_path)
    assert mixed.returncode == 2 and "--epochs-from is the budget" in mixed.stderr


def report_rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_runs_without_measured_cpu_minutes_spread_the_ledger_over_their_epochs():
    with_cpu_minutes = _tool_module("encoder_study_report").with_cpu_minutes

    old = [{"epoch": "1", "val_miou": "0.2"}, {"epoch": "2", "val_miou": "0.3", "cpu_minutes": ""}]
    got = with_cpu_minutes(old, {"train_cpu_s": 600.0})
    assert [(r["cpu_minutes"], r["cpu_minutes_from"]) for r in got] == [("5", "ledger/epochs"), ("10", "ledger/epochs")]
    new = [{"epoch": "1", "cpu_minutes": "4.5"}, {"epoch": "2", "cpu_minutes": "9.7"}]
    assert [r["cpu_minutes"] for r in with_cpu_minutes(new, {"train_cpu_s": 600.0})] == ["4.5", "9.7"]


def test_study_needs_a_budget(tmp_path):
    done = study("run", "--models", "resnet34", "--runs", str(tmp_path), "--out", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("encoder_study: error: give a budget")


def test_cores_must_be_usable_and_given_once(tmp_path):
    budget = ["run", "--epochs", "1", "--models", "resnet34", "--runs", str(tmp_path), "--out", str(tmp_path)]
    for cores in (["4096"], ["0", "0,1"]):
        done = subprocess.run([sys.executable, str(TOOL), *budget, "--cores", *cores], capture_output=True, text=True,
                              cwd=tmp_path, check=False)
        assert done.returncode == 2
        assert done.stderr.strip().splitlines()[-1].startswith(f"encoder_study: error: --cores {' '.join(cores)}: "
                                                               "each core once"), done.stderr


def test_two_recipes_compare_on_the_networks_both_trained(tmp_path):
    """compare: one line per network in both summaries, the second recipe's val gain signed."""
    def summary(folder: Path, rows: list[tuple]) -> Path:
        folder.mkdir()
        with open(folder / "summary.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["model", "seed", "epochs", "best_val_miou", "test_miou", "train_cpu_h"])
            w.writerows(rows)
        return folder

    adam = summary(tmp_path / "adam", [("resnet50", 0, 26, 0.527, 0.425, 1.02), ("resnet34", 0, 38, 0.514, 0.402, 1.0)])
    sgd = summary(tmp_path / "sgd", [("resnet50", 0, 26, 0.501, 0.40, 1.4)])
    doc = tmp_path / "doc.md"
    doc.write_text("before\n<!-- encoder-study:recipes -->\nold\n<!-- /encoder-study:recipes -->\nafter\n")
    done = study("compare", "--out", str(adam), "--against", str(sgd), "--write", str(doc), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = doc.read_text().splitlines()
    assert lines[0] == "before" and lines[-1] == "after" and "old" not in lines
    assert [line for line in lines if line.startswith("| resnet")] == [
        "| resnet50 | 26 | 52.7 | 50.1 | -2.6 | 42.5 | 40.0 | 1.02 | 1.40 |"]
    missing = study("compare", "--out", str(adam), "--against", str(tmp_path / "none"), cwd=tmp_path)
    assert missing.returncode == 2 and "no summary.csv" in missing.stderr
    # a larger budget goes into its own block; the recipes block stays as it was
    longer = summary(tmp_path / "3x", [("resnet50", 0, 78, 0.55, 0.44, 3.1)])
    doc.write_text(doc.read_text() + "<!-- encoder-study:budgets -->\n<!-- /encoder-study:budgets -->\n")
    done = study("compare", "--out", str(adam), "--against", str(longer), "--names", "60 min", "3x",
                 "--block", "budgets", "--write", str(doc), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = doc.read_text()
    assert "| resnet50 | 26 | 52.7 | 50.1 |" in text
    assert "| resnet50 | 26 / 78 | 52.7 | 55.0 | +2.3 | 42.5 | 44.0 |" in text
    assert "best val % 3x" in text.split("encoder-study:budgets")[1]
    nowhere = study("compare", "--out", str(adam), "--against", str(longer), "--block", "seeds", "--write", str(doc),
                    cwd=tmp_path)
    assert nowhere.returncode == 2 and "<!-- encoder-study:seeds -->" in nowhere.stderr


def _tool_module(name: str):
    """A module of tools/ imported as the tools import each other (tools/ on sys.path)."""
    sys.path.insert(0, str(REPO / "tools"))
    try:
        spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(REPO / "tools"))


def test_a_core_group_trains_one_run_with_a_thread_each_and_measures_on_one(tmp_path, monkeypatch):
    """--cores 0,1: the training child is pinned to both cores with two threads, the measuring
    child to the first with one (its timings stay comparable with one-core runs)."""
    import argparse
    import queue
    from types import SimpleNamespace

    tool = _tool_module("encoder_study")
    assert tool.core_group("3") == (3,) and tool.core_group("0,1") == (0, 1)
    for bad in ("0,0", "a", "-1", "0,"):
        with pytest.raises(argparse.ArgumentTypeError):
            tool.core_group(bad)

    child_result = sys.modules["supervisor"].ChildResult  # what the tool imported
    calls = []

    def fake_run(cmd, log, env=None, core=None):
        calls.append((cmd, env, core))
        return child_result(code=0, wall_s=1.0, cpu_s=2.0, peak_rss_mib=3.0)

    monkeypatch.setattr(tool.SUPERVISOR, "run", fake_run)
    args = SimpleNamespace(minutes=None, epochs=1, epochs_for={}, recipe=tmp_path / "recipe.yaml", data_root=tmp_path,
                           train_only=False, test_root=tmp_path, frames=1, backend="torch")
    jobs = queue.Queue()
    jobs.put(("resnet34", 0, tmp_path / "run"))
    failures = []
    tool.worker((0, 1), jobs, args, {"budget": "1 epochs", "overrides": []}, failures)
    assert failures == []
    (train_cmd, train_env, train_core), (measure_cmd, measure_env, measure_core) = calls
    assert train_core == "0,1" and train_env["OMP_NUM_THREADS"] == "2" and "threads=2" in train_cmd
    assert measure_core == "0" and measure_env["OMP_NUM_THREADS"] == "1" and "measure" in measure_cmd
    ledger = json.loads((tmp_path / "run" / "study.json").read_text())
    assert ledger["train_threads"] == 2 and ledger["core"] == "0,1" and ledger["train_done"]


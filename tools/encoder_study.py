"""Encoders compared on CamVid at one budget (issue #15): train, measure, tabulate, plot.

    python tools/encoder_study.py run --minutes 60 [--cores 0 1] [--seeds-for dsnet50=0,1 ...]
    python tools/encoder_study.py run --epochs 30 --out docs/results/encoders/epochs
    python tools/encoder_study.py report --runs runs/encoder_study/60min   # summary.csv and figure again
    python tools/encoder_study.py table --write docs/results/encoders.md    # the table from summary.csv

Every run trains from scratch with configs/study/encoders.yaml (one recipe for all models) in a
child process pinned to one core (taskset, threads=1), so N cores run N models side by side under
the same conditions. Run folders live in --runs (default runs/encoder_study/<budget>, out of git):

- train: ``segnet train --config configs/study/encoders.yaml model.name=... max_minutes=M``; a run
  with a last.pt continues with ``segnet train --resume RUN max_minutes=<what is left>``. Its wall
  time, CPU time (user + system) and peak RSS come from wait4 and add up in study.json.
- measure: a second pinned child (``encoder_study.py measure RUN``) scores best.pt on test (the
  Python API, default CPU backend), counts parameters and GFLOPs (torch's FlopCounterMode, as
  ``segnet bench models``), times ``Model.predict`` on a 360x480 frame -> result.json.
- report (tools/encoder_study_report.py): summary.csv (one row per model and seed),
  <model>-seed<k>.csv (each run's metrics.csv), miou_vs_cpu_hours.png, the markdown table.

``run`` again with the same arguments resumes: runs with a result.json (or a summary.csv row) are
skipped, trained runs are only measured, partial runs continue. Ctrl-C stops every child at a
safe point (exit 130).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from encoder_study_report import TABLE_START, TABLE_END, fill_table, markdown_table, read_summary, report

REPO = Path(__file__).resolve().parent.parent
RECIPE = REPO / "configs" / "study" / "encoders.yaml"
OUT = REPO / "docs" / "results" / "encoders"
# study name -> (segnet model name, model options). The FC networks lose what U-Net has no
# counterpart for (FC-DenseNet's dropout 0.2, FC-Log-DenseNet's deep supervision): one
# single-output loss for every model.
MODELS = {
    "resnet34": ("smp/unet/resnet34", {}),
    "resnet50": ("smp/unet/resnet50", {}),
    "dsnet50": ("smp/unet/dsnet50", {}),
    "ds2net50": ("smp/unet/ds2net50", {}),
    "densenet_bc121": ("smp/unet/densenet_bc121", {}),
    "log_densenet_v2": ("smp/unet/log_densenet_v2", {}),
    "fc_densenet56": ("fc_densenet56", {"dropout": 0.0}),
    "fc_densenet67": ("fc_densenet67", {"dropout": 0.0}),
    "fc_log_densenet103": ("fc_log_densenet103", {"deep_supervision": False}),
}
_children: dict[int, subprocess.Popen] = {}
_stop = threading.Event()


def fail(message: str) -> None:
    """One line and exit status 2, as segnet's CLI reports a user's mistake."""
    print(f"encoder_study: error: {message}", file=sys.stderr)
    sys.exit(2)


# ---------------------------------------------------------------------------------- planning
def budget_tag(minutes: float | None, epochs: int | None) -> str:
    parts = ([f"{minutes:g} min"] if minutes else []) + ([f"{epochs} epochs"] if epochs else [])
    return ", ".join(parts)


def plan(args) -> list[tuple[str, int]]:
    """(model, seed) pairs in model order: --seeds for all, --seeds-for MODEL=S,S for some."""
    seeds = {m: list(args.seeds) for m in args.models}
    for item in args.seeds_for:
        model, _, values = item.partition("=")
        if model not in seeds or not values:
            fail(f"--seeds-for {item!r}: expected MODEL=SEED[,SEED...] with MODEL one of {', '.join(args.models)}")
        try:
            seeds[model] = [int(s) for s in values.split(",")]
        except ValueError:
            fail(f"--seeds-for {item!r}: seeds are integers")
    return [(m, s) for m in args.models for s in seeds[m]]


def read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def metric_rows(run: Path) -> list[dict]:
    if not (run / "metrics.csv").is_file():
        return []
    with open(run / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_subset(root: Path, frames: int, runs: Path) -> Path:
    """A data root whose test split is the first ``frames`` test pairs (links; the rest linked whole)."""
    sub = runs / f".camvid-test{frames}"
    if (sub / "testannot").is_dir():
        return sub
    tmp = runs / f".camvid-test{frames}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for entry in root.iterdir():
        if entry.name not in ("test", "testannot"):
            (tmp / entry.name).symlink_to(entry.resolve())
    names = sorted(p.name for p in (root / "test").iterdir())[:frames]
    for split in ("test", "testannot"):
        (tmp / split).mkdir()
        for name in names:
            (tmp / split / name).symlink_to((root / split / name).resolve())
    tmp.rename(sub)
    return sub


# ---------------------------------------------------------------------------------- children
def run_child(cmd: list[str], core: int, log: Path, env: dict | None = None) -> tuple[int, float, float, float]:
    """Run ``cmd`` pinned to ``core`` with one thread; (exit code, wall s, CPU s, peak RSS MiB).

    The child gets its own session: a Ctrl-C reaches only this tool, which forwards one SIGINT
    (a second one would make segnet train exit without waiting for a safe point)."""
    env = dict(os.environ, **(env or {}), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    start = time.monotonic()
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(cmd)}  # core {core}, {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        out.flush()
        proc = subprocess.Popen(["taskset", "-c", str(core), *cmd], stdout=out, stderr=subprocess.STDOUT,
                                env=env, cwd=REPO, start_new_session=True)
        _children[proc.pid] = proc
        if _stop.is_set():
            proc.send_signal(signal.SIGINT)
        _, status, usage = os.wait4(proc.pid, 0)
        _children.pop(proc.pid, None)
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return proc.returncode, time.monotonic() - start, cpu, usage.ru_maxrss / 1024  # ru_maxrss: KiB on Linux


def train_run(model: str, seed: int, run: Path, core: int, args, conditions: dict) -> bool:
    """Train (or continue) one run until its budget is spent; True when it is."""
    ledger = read_json(run / "study.json")
    if ledger.get("train_done"):
        return True
    resumable = (run / "last.pt").is_file()
    if not resumable:  # a run killed before its first checkpoint starts over
        shutil.rmtree(run, ignore_errors=True)
        ledger = {}
    ledger = {"model": model, "seed": seed, "conditions": conditions, "train_wall_s": 0.0, "train_cpu_s": 0.0,
              "peak_rss_mib": 0.0, "invocations": 0, "train_done": False, **ledger}
    run.mkdir(parents=True, exist_ok=True)
    segnet = [sys.executable, "-m", "segnet", "train"]
    if resumable:
        cmd = segnet + ["--resume", str(run)]
        if args.minutes:
            rows = metric_rows(run)
            used = max(ledger["train_wall_s"], sum(float(r["epoch_seconds"] or 0) for r in rows))
            left = args.minutes * 60 - used
            last_epoch = float(rows[-1]["epoch_seconds"] or 0) if rows else 0.0
            if rows and left < max(last_epoch, 1.0):  # another epoch would not fit: the trainer's own rule
                ledger["train_done"] = True
                write_json(run / "study.json", ledger)
                return True
            # no epoch finished yet: the first one always runs (as in a fresh run), then the budget stops it
            cmd.append(f"max_minutes={max(left / 60, 0.01):.4f}")
    else:
        name, options = MODELS[model]
        cmd = segnet + ["--config", str(args.recipe), f"model.name={name}", f"seed={seed}", f"run_dir={run}",
                        f"data.root={args.data_root}", f"name={model}-seed{seed}"]
        cmd += [f"model.options.{k}={v}" for k, v in options.items()] + list(conditions["overrides"])
        cmd += [f"max_minutes={args.minutes}"] if args.minutes else []
        cmd += [f"train.epochs={args.epochs}"] if args.epochs else []
    write_json(run / "study.json", ledger)
    print(f"[core {core}] {model} seed {seed}: {'continuing' if resumable else 'training'} "
          f"({conditions['budget']})", flush=True)
    code, wall, cpu, rss = run_child(cmd, core, run / "study.log")
    ledger.update(train_wall_s=ledger["train_wall_s"] + wall, train_cpu_s=ledger["train_cpu_s"] + cpu,
                  peak_rss_mib=max(ledger["peak_rss_mib"], rss), invocations=ledger["invocations"] + 1,
                  train_done=code == 0, core=core)
    write_json(run / "study.json", ledger)
    if code not in (0, 130):
        raise RuntimeError(f"segnet train exited with {code} (log: {run / 'study.log'})")
    return code == 0


def worker(core: int, jobs: queue.Queue, args, conditions: dict, failures: list) -> None:
    while not _stop.is_set():
        try:
            model, seed, run = jobs.get_nowait()
        except queue.Empty:
            return
        try:
            if not train_run(model, seed, run, core, args, conditions) or _stop.is_set():
                continue
            print(f"[core {core}] {model} seed {seed}: measuring", flush=True)
            cmd = [sys.executable, str(Path(__file__).resolve()), "measure", str(run), "--data-root",
                   str(args.test_root), "--frames", str(args.frames)]
            # the OpenVINO conversion of best.pt stays with the run, not in ~/.cache
            env = {"SEGNET_CACHE_DIR": str(run / "cache")}
            env.update({"SEGNET_BACKEND": "torch"} if args.backend == "torch" else {})
            code = run_child(cmd, core, run / "study.log", env)[0]
            if code not in (0, 130):
                raise RuntimeError(f"measure exited with {code} (log: {run / 'study.log'})")
            if code == 0:
                print(f"[core {core}] {model} seed {seed}: done", flush=True)
        except Exception as exc:  # one failed run must not stop the others
            failures.append(f"{model} seed {seed}: {exc}")
            print(f"[core {core}] {model} seed {seed}: FAILED: {exc}", flush=True)


def _forward_stop(signum, frame) -> None:
    _stop.set()
    for proc in list(_children.values()):
        proc.send_signal(signal.SIGINT)


def cmd_run(args) -> int:
    if not args.minutes and not args.epochs:
        fail("give a budget: --minutes M (equal wall-clock) and/or --epochs E (equal epochs)")
    if not args.recipe.is_file():
        fail(f"recipe not found: {args.recipe}")
    if not (args.data_root / "test").is_dir():
        fail(f"CamVid not found at {args.data_root} (--data-root, or $SEGNET_DATA_ROOT; see data/README.md)")
    budget = budget_tag(args.minutes, args.epochs)
    args.runs = args.runs or REPO / "runs" / "encoder_study" / budget.replace(" ", "").replace(",", "-")
    args.runs.mkdir(parents=True, exist_ok=True)
    args.test_root = test_subset(args.data_root, args.limit_test, args.runs) if args.limit_test else args.data_root
    # what makes two runs comparable; a run folder trained under other conditions is never reused
    recipe = args.recipe.relative_to(REPO) if args.recipe.is_relative_to(REPO) else args.recipe
    conditions = {"budget": budget, "recipe": str(recipe), "overrides": list(args.set),
                  "recipe_sha256": hashlib.sha256(args.recipe.read_bytes()).hexdigest()[:16]}
    summary = {(r["model"], int(r["seed"])): r for r in read_summary(args.out)}
    if any(r["budget"] != budget for r in summary.values()):
        fail(f"{args.out / 'summary.csv'} holds runs of another budget; pass --out for the {budget} study")
    jobs: queue.Queue = queue.Queue()
    for model, seed in plan(args):
        run = args.runs / f"{model}-seed{seed}"
        stored = read_json(run / "study.json").get("conditions")
        if stored and stored != conditions:
            fail(f"{run} was trained under {stored}, not {conditions}: pass another --runs")
        if (run / "result.json").is_file() or (model, seed) in summary:
            print(f"{model} seed {seed}: done already, skipped")
            continue
        jobs.put((model, seed, run))
    signal.signal(signal.SIGINT, _forward_stop)
    signal.signal(signal.SIGTERM, _forward_stop)
    failures: list[str] = []
    threads = [threading.Thread(target=worker, args=(c, jobs, args, conditions, failures)) for c in args.cores]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):  # joined with a timeout so that signals reach us
        for t in threads:
            t.join(0.2)
    if _stop.is_set():
        print("encoder_study: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    report(args.runs, args.out, list(MODELS))
    for line in failures:
        print(f"encoder_study: failed: {line}", file=sys.stderr)
    return 1 if failures else 0


# ---------------------------------------------------------------------------------- measuring
def _gflops(net, size) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(torch.randn(1, 3, *size))
    return counter.get_total_flops() / 1e9


def cmd_measure(args) -> int:
    """One trained run -> result.json (run pinned, in its own process: see run_child)."""
    import torch
    import yaml

    import segnet
    from segnet.bench.predict import time_calls
    from segnet.bench.train_step import run_in_subprocess
    from segnet.core.device import cpu_description
    from segnet.data.camvid import find_pairs, read_image
    from segnet.models import create_model

    torch.set_num_threads(1)
    run = args.run
    ledger, rows = read_json(run / "study.json"), metric_rows(run)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    model = segnet.load_model(run / "best.pt", device="cpu")
    card = model.card
    # one training step of this run's recipe in a fresh process (as `segnet bench models`): peak
    # RSS above the process's size before the step, without the libraries' own footprint
    crop = cfg["train"]["crop_size"]
    scaled = (round(360 * card.input_scale), round(480 * card.input_scale))
    step = run_in_subprocess(dict(config=str(run / "config.yaml"), overrides=[], variant="default", repeats=2,
                                  batch=cfg["train"]["batch_size"], size=[crop, crop] if crop else list(scaled),
                                  device="cpu", threads=1))
    # the model's own accuracy (float32 torch); the timing below runs the default backend, which may
    # be INT8 (segnet.inference.int8_check), whose mIoU would be a property of the quantizer
    scores = segnet.evaluate(segnet.load_model(run / "best.pt", device="cpu", amp="off", backend="torch"),
                             args.data_root, split="test")
    net = create_model(card.model_name, card.classes.num_classes, **card.model_options).eval()
    frame = read_image(find_pairs(args.data_root, "test")[0][0])
    wall, cpu = time_calls(lambda: model.predict(frame), args.frames)  # median wall, mean CPU s per frame
    cpu_h = ledger["train_cpu_s"] / 3600
    result = {
        "model": ledger["model"], "seed": ledger["seed"], "network": card.model_name,
        "budget": ledger["conditions"]["budget"], "epochs": len(rows), "steps": int(rows[-1]["step"]),
        "train_wall_min": ledger["train_wall_s"] / 60, "train_cpu_h": cpu_h,
        "train_img_s": statistics.median(float(r["images_per_s"]) for r in rows if r["images_per_s"]),
        "peak_rss_mib": ledger["peak_rss_mib"], "step_peak_mib": step["peak_step_mib"],
        "best_val_miou": max(float(r["val_miou"]) for r in rows if r["val_miou"]),
        "test_miou": scores.miou, "test_frames": scores.num_images,
        "params_m": sum(p.numel() for p in net.parameters() if p.requires_grad) / 1e6,
        "gflops_360x480": _gflops(net, (360, 480)), "gflops_input": _gflops(net, scaled),
        "infer_backend": f"{model.backend} {model.precision}", "infer_s_frame": wall, "infer_cpu_s_frame": cpu,
        "miou_per_cpu_h": scores.miou / cpu_h if cpu_h > 0 else float("nan"),
        "threads": torch.get_num_threads(), "machine": f"{cpu_description()}, load {os.getloadavg()[0]:.2f}",
        **{f"iou_{c}": v for c, v in scores.per_class_iou.items()},
    }
    write_json(run / "result.json", result)
    return 0


def cmd_report(args) -> int:
    if not report(args.runs, args.out, list(MODELS)):
        fail(f"no finished runs (result.json) in {args.runs} and no summary.csv in {args.out}")
    return 0


def cmd_table(args) -> int:
    rows = read_summary(args.out)
    if not rows:
        fail(f"no summary.csv in {args.out}: run the study first")
    table = markdown_table(rows)
    if args.write is None:
        print(table)
        return 0
    text = fill_table(args.write.read_text(), table)
    if text is None:
        fail(f"{args.write} has no {TABLE_START} ... {TABLE_END} block to fill")
    args.write.write_text(text)
    print(f"wrote the table into {args.write}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="train and measure every (model, seed) not done yet, then report")
    p.add_argument("--minutes", type=float, default=None, help="equal wall-clock budget per run (max_minutes)")
    p.add_argument("--epochs", type=int, default=None, help="equal number of epochs per run (train.epochs)")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of every model")
    p.add_argument("--seeds-for", action="append", default=[], metavar="MODEL=S,S", help="other seeds for one model")
    p.add_argument("--cores", type=int, nargs="+", default=sorted(os.sched_getaffinity(0)),
                   help="one run at a time on each (default: the cores this process may use)")
    p.add_argument("--recipe", type=Path, default=RECIPE)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides for every run (smoke tests)")
    p.add_argument("--data-root", type=Path, default=None, help="CamVid (default: segnet's data root)")
    p.add_argument("--limit-test", type=int, default=None, help="score the first N test frames only (smoke tests)")
    p.add_argument("--frames", type=int, default=5, help="timed inference passes (after one warm-up)")
    p.add_argument("--backend", default="auto", choices=["auto", "torch"], help="test and timing runtime (auto: the default)")
    p.add_argument("--runs", type=Path, default=None, help="run folders (default: runs/encoder_study/<budget>)")
    p.add_argument("--out", type=Path, default=OUT)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("measure", help="(internal) measure one trained run")
    p.add_argument("run", type=Path)
    p.add_argument("--data-root", type=Path, required=True)
    p.add_argument("--frames", type=int, default=5)
    p.set_defaults(func=cmd_measure)
    p = sub.add_parser("report", help="summary.csv, metrics copies and the figure from the finished runs")
    p.add_argument("--runs", type=Path, required=True, help="the study's run folders, e.g. runs/encoder_study/60min")
    p.add_argument("--out", type=Path, default=OUT)
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("table", help="the markdown table of summary.csv (printed, or written into a file)")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--write", type=Path, default=None, help=f"replace the {TABLE_START} block of this file")
    p.set_defaults(func=cmd_table)
    args = parser.parse_args(argv)
    if getattr(args, "data_root", None) is None and args.command == "run":
        from segnet.paths import default_data_root

        args.data_root = default_data_root()
    if args.command == "run":  # children run in the repository: every path absolute
        args.data_root, args.recipe = args.data_root.resolve(), args.recipe.resolve()
        args.runs = args.runs.resolve() if args.runs else None
    args.out = args.out.resolve() if hasattr(args, "out") else None
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

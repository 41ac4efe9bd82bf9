"""Encoders compared on CamVid at one budget: train, measure, tabulate, plot.

    python tools/encoder_study.py run --minutes 60 [--cores 0 1] [--seeds-for dsnet50=0,1 ...]
    python tools/encoder_study.py run --epochs 30 --out docs/results/encoders/epochs
    python tools/encoder_study.py run --minutes 180 --models M --extend-from runs/encoder_study/60min --out ...
    python tools/encoder_study.py run --epochs-from runs/encoder_study/60min \
        --recipe configs/study/encoders_sgd.yaml ...
    python tools/encoder_study.py run --epochs-from docs/results/encoders/60min --epochs-factor 3 --models M ...
    python tools/encoder_study.py report --runs runs/encoder_study/60min   # summary.csv and figure again
    python tools/encoder_study.py table --write docs/results/encoders.md    # the table from summary.csv
    python tools/encoder_study.py compare --out docs/results/encoders/60min --against docs/results/encoders/sgd
    python tools/encoder_study.py compare --out docs/results/encoders/60min --against docs/results/encoders/3x \
        --names "60 min" 3x --block budgets --write docs/results/encoders.md

Every run trains from scratch with configs/study/encoders.yaml (one recipe for all models) in a
child process pinned to one core (taskset, threads=1), so N cores run N models side by side under
the same conditions (``--cores 0,1``: one run on two cores, two threads, for a run that must end
within a sitting; it is measured on one). Run folders live in --runs (default
runs/encoder_study/<budget>, out of git):

- train: ``segnet train --config configs/study/encoders.yaml model.name=... max_minutes=M``; a run
  with a last.pt continues with ``segnet train --resume RUN max_minutes=<what is left>``. Its wall
  time, CPU time (user + system) and peak RSS come from wait4 and add up in study.json.
- measure: a second pinned child (``encoder_study.py measure RUN``) runs
  ``segnet.bench.study.measure_run``: test scores of best.pt, parameters, GFLOPs, the peak memory
  of one training step, the time to predict a 360x480 frame on the default runtime -> result.json.
- report (tools/encoder_study_report.py): summary.csv (one row per model and seed),
  <model>-seed<k>.csv (each run's metrics.csv with CPU-minutes per epoch), miou_vs_cpu_hours.png,
  val_miou_vs_cpu_minutes.png, the markdown table.
- --extend-from: a larger budget continues the smaller budget's finished runs (copied) instead of
  training again from scratch (see extend_run).

``run`` again with the same arguments resumes: runs with a result.json (or a summary.csv row) are
skipped, trained runs are only measured, partial runs continue. ``--train-only`` trains and stops
there, so that the measurements (speed, above all) can wait for an idle machine. Ctrl-C stops every child at a
safe point (exit 130).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import queue
import shutil
import sys
import threading
from dataclasses import astuple
from pathlib import Path

import encoder_study_report as results
from omegaconf import OmegaConf
from supervisor import Supervisor

from segnet.core.atomic import atomic_write
from segnet.core.paths import default_data_root

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
SUPERVISOR = Supervisor(REPO)


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


def write_json(path: Path, data: dict) -> None:
    with atomic_write(path, "w") as f:
        f.write(json.dumps(data, indent=2) + "\n")


def extend_run(source: Path, run: Path, conditions: dict) -> None:
    """``run`` starts as a copy of ``source``, the same model's finished run at a smaller budget, and
    trains on from its last.pt until the larger budget is spent: the same as training the larger
    budget from the start, because the recipe's lr depends on the epoch alone (exponential decay),
    not on the budget. A cosine or poly schedule ends at train.epochs: such runs are refused."""
    ledger = results.read_json(source / "study.json")
    if not ledger.get("train_done") or not (source / "last.pt").is_file():
        fail(f"--extend-from: {source} holds no finished run to extend")
    schedule = OmegaConf.load(source / "config.yaml").train.get("schedule", "exponential")
    if schedule != "exponential":
        fail(f"--extend-from: {source} ran a {schedule} schedule, which ends at its train.epochs: "
             "train the budget anew")
    same = {k: v for k, v in ledger["conditions"].items() if k != "budget"}
    if same != {k: v for k, v in conditions.items() if k != "budget"}:
        fail(f"--extend-from: {source} was trained under {ledger['conditions']}, not {conditions}")
    tmp = run.with_name(run.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp, ignore=shutil.ignore_patterns("result*.json", "cache", ".segnet.lock", ".*.tmp"))
    extended = {"run": str(source), "budget": ledger["conditions"]["budget"], "train_cpu_s": ledger["train_cpu_s"]}
    write_json(tmp / "study.json", {**ledger, "conditions": conditions, "train_done": False, "extended_from": extended})
    tmp.rename(run)


def source_epochs(source: Path) -> int:
    """The epochs ``source`` (a finished run) trained: another recipe's run gets as many. ``source``
    is a run folder or, as published beside the table, ``<run>.study.json`` and ``<run>.csv`` (a
    comparison outlives the machine that trained the first recipe)."""
    published = source.with_name(source.name + ".study.json")
    if not (source / "study.json").is_file() and published.is_file():
        if not results.read_json(published).get("train_done"):
            fail(f"--epochs-from: {published} is not a finished run")
        return len(results.read_rows(source.with_name(source.name + ".csv")))
    if not results.read_json(source / "study.json").get("train_done"):
        fail(f"--epochs-from: {source} holds no finished run")
    return len(results.metric_rows(source))


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
def run_child(cmd: list[str], cores: tuple[int, ...], log: Path, env: dict | None = None):
    """``cmd`` pinned to ``cores`` with a thread on each (one: the study's unit of compute)."""
    threads = str(len(cores))
    return SUPERVISOR.run(cmd, log, dict(env or {}, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads),
                          core=core_list(cores))


def core_list(cores) -> str:
    """Cores as taskset and --cores write them: "0,1"."""
    return ",".join(map(str, cores))


def core_group(text: str) -> tuple[int, ...]:
    """A --cores item: one core ("0"), or cores that train one run together ("0,1")."""
    try:
        cores = tuple(int(c) for c in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a core or a comma-separated list of cores: {text!r}") from None
    if len(set(cores)) != len(cores) or min(cores) < 0:
        raise argparse.ArgumentTypeError(f"cores must be distinct and >= 0: {text!r}")
    return cores


def train_run(model: str, seed: int, run: Path, cores: tuple[int, ...], args, conditions: dict) -> bool:
    """Train (or continue) one run until its budget is spent; True when it is."""
    ledger = results.read_json(run / "study.json")
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
            # The budget is CPU time (user + system of the training processes, from wait4): a run
            # trains whole epochs until it has had at least that much, whatever else the machine ran.
            rows = results.metric_rows(run)
            left = args.minutes * 60 - ledger["train_cpu_s"]
            last_epoch = float(rows[-1]["epoch_seconds"] or 0) if rows else 0.0
            if rows and left <= 0:
                ledger["train_done"] = True
                write_json(run / "study.json", ledger)
                return True
            # room for one more whole epoch at least (the trainer stops when the next would not fit)
            cmd.append(f"max_minutes={max(left, 1.05 * last_epoch, 0.6) / 60:.4f}")
        epochs = args.epochs or args.epochs_for.get(run.name)
        cmd += [f"train.epochs={epochs}"] if epochs else []  # an extended run's new budget
    else:
        name, options = MODELS[model]
        cmd = segnet + ["--config", str(args.recipe), f"model.name={name}", f"seed={seed}", f"run_dir={run}",
                        f"data.root={args.data_root}", f"name={model}-seed{seed}"]
        cmd += [f"model.options.{k}={v}" for k, v in options.items()] + list(conditions["overrides"])
        cmd += [f"max_minutes={args.minutes}"] if args.minutes else []
        epochs = args.epochs or args.epochs_for.get(run.name)
        cmd += [f"train.epochs={epochs}"] if epochs else []
    # threads change the speed, not what is learned: they stay out of the conditions
    cmd.append(f"threads={len(cores)}")
    write_json(run / "study.json", ledger)
    print(f"[{where(cores)}] {model} seed {seed}: {'continuing' if resumable else 'training'} "
          f"({conditions['budget']})", flush=True)
    code, wall, cpu, rss = astuple(run_child(cmd, cores, run / "study.log"))
    ledger.update(train_wall_s=ledger["train_wall_s"] + wall, train_cpu_s=ledger["train_cpu_s"] + cpu,
                  peak_rss_mib=max(ledger["peak_rss_mib"], rss), invocations=ledger["invocations"] + 1,
                  train_done=code == 0 and not (args.minutes and ledger["train_cpu_s"] + cpu < args.minutes * 60),
                  core=core_list(cores), train_threads=len(cores))
    write_json(run / "study.json", ledger)
    if code not in (0, 130):
        raise RuntimeError(f"segnet train exited with {code} (log: {run / 'study.log'})")
    return ledger["train_done"]


def where(cores: tuple[int, ...]) -> str:
    return f"core{'s' if len(cores) > 1 else ''} {core_list(cores)}"


def worker(cores: tuple[int, ...], jobs: queue.Queue, args, conditions: dict, failures: list) -> None:
    while not SUPERVISOR.stopping:
        try:
            model, seed, run = jobs.get_nowait()
        except queue.Empty:
            return
        try:
            while not train_run(model, seed, run, cores, args, conditions) and not SUPERVISOR.stopping:
                pass  # a CPU budget not yet spent: the run continues from its last.pt
            if SUPERVISOR.stopping:
                continue
            if args.train_only:
                print(f"[{where(cores)}] {model} seed {seed}: trained (measured by a later run without --train-only)",
                      flush=True)
                continue
            print(f"[{where(cores)}] {model} seed {seed}: measuring", flush=True)
            cmd = [sys.executable, str(Path(__file__).resolve()), "measure", str(run), "--data-root",
                   str(args.test_root), "--frames", str(args.frames)]
            # the OpenVINO conversion of best.pt stays with the run, not in ~/.cache
            env = {"SEGNET_CACHE_DIR": str(run / "cache")}
            env.update({"SEGNET_BACKEND": "torch"} if args.backend == "torch" else {})
            # measured on one core, one thread, however many trained it: comparable timings
            code = run_child(cmd, cores[:1], run / "study.log", env).code
            if code not in (0, 130):
                raise RuntimeError(f"measure exited with {code} (log: {run / 'study.log'})")
            if code == 0:
                print(f"[{where(cores)}] {model} seed {seed}: done", flush=True)
        except Exception as exc:  # noqa: BLE001 - one failed run must not stop the others
            failures.append(f"{model} seed {seed}: {exc}")
            print(f"[{where(cores)}] {model} seed {seed}: FAILED: {exc}", flush=True)


def cmd_run(args) -> int:
    if args.epochs_from and (args.minutes or args.epochs):
        fail("--epochs-from is the budget: leave out --minutes and --epochs")
    if args.epochs_factor != 1 and not args.epochs_from:
        fail("--epochs-factor scales the epochs of --epochs-from RUNS: give both")
    if not args.epochs_factor > 0:
        fail(f"--epochs-factor must be > 0, not {args.epochs_factor:g}")
    if not args.minutes and not args.epochs and not args.epochs_from:
        fail("give a budget: --minutes M (equal CPU time) and/or --epochs E (equal epochs), or --epochs-from RUNS")
    if not args.recipe.is_file():
        fail(f"recipe not found: {args.recipe}")
    allowed, asked = os.sched_getaffinity(0), [c for group in args.cores for c in group]
    if not set(asked) <= allowed or len(set(asked)) != len(asked):
        fail(f"--cores {' '.join(map(core_list, args.cores))}: each core once, among those this "
             f"process may use ({core_list(sorted(allowed))})")
    if not (args.data_root / "test").is_dir():
        fail(f"CamVid not found at {args.data_root} (--data-root, or $SEGNET_DATA_ROOT; see data/README.md)")
    factor = f"{args.epochs_factor:g}x " if args.epochs_factor != 1 else ""
    budget = budget_tag(args.minutes, args.epochs) or f"{factor}epochs of {args.epochs_from.name}"
    args.runs = args.runs or REPO / "runs" / "encoder_study" / budget.replace(" ", "").replace(",", "-")
    args.runs.mkdir(parents=True, exist_ok=True)
    args.test_root = test_subset(args.data_root, args.limit_test, args.runs) if args.limit_test else args.data_root
    # what makes two runs comparable; a run folder trained under other conditions is never reused
    recipe = args.recipe.relative_to(REPO) if args.recipe.is_relative_to(REPO) else args.recipe
    conditions = {"budget": budget, "recipe": str(recipe), "overrides": list(args.set),
                  "recipe_sha256": hashlib.sha256(args.recipe.read_bytes()).hexdigest()[:16]}
    summary = {(r["model"], int(r["seed"])): r for r in results.read_summary(args.out)}
    if any(r["budget"] != budget for r in summary.values()):
        fail(f"{args.out / 'summary.csv'} holds runs of another budget; pass --out for the {budget} study")
    jobs: queue.Queue = queue.Queue()
    for model, seed in plan(args):
        run = args.runs / f"{model}-seed{seed}"
        if args.extend_from and not run.exists():
            extend_run(args.extend_from / run.name, run, conditions)
        if args.epochs_from:
            args.epochs_for[run.name] = round(args.epochs_factor * source_epochs(args.epochs_from / run.name))
        stored = results.read_json(run / "study.json").get("conditions")
        if stored and stored != conditions:
            fail(f"{run} was trained under {stored}, not {conditions}: pass another --runs")
        if (run / "result.json").is_file() or (model, seed) in summary:
            print(f"{model} seed {seed}: done already, skipped")
            continue
        jobs.put((model, seed, run))
    SUPERVISOR.stop_on_signals()
    failures: list[str] = []
    threads = [threading.Thread(target=worker, args=(c, jobs, args, conditions, failures)) for c in args.cores]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):  # joined with a timeout so that signals reach us
        for t in threads:
            t.join(0.2)
    if SUPERVISOR.stopping:
        print("encoder_study: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    if not args.train_only:
        results.report(args.runs, args.out, list(MODELS))
    for line in failures:
        print(f"encoder_study: failed: {line}", file=sys.stderr)
    return 1 if failures else 0


# ---------------------------------------------------------------------------------- measuring
def cmd_measure(args) -> int:
    """One trained run -> result.json (run pinned, in its own process: see run_child)."""
    from segnet.bench.study import measure_run  # torch and the networks load in this child only

    measured = measure_run(args.run, args.data_root, args.frames)
    write_json(args.run / "result.json", results.result_row(args.run, measured))
    return 0


def cmd_report(args) -> int:
    if not results.report(args.runs, args.out, list(MODELS)):
        fail(f"no finished runs (result.json) in {args.runs} and no summary.csv in {args.out}")
    return 0


def cmd_table(args) -> int:
    rows = results.read_summary(args.out)
    if not rows:
        fail(f"no summary.csv in {args.out}: run the study first")
    table = results.markdown_table(rows)
    if args.write is None:
        print(table)
        return 0
    text = results.fill_table(args.write.read_text(), table)
    if text is None:
        fail(f"{args.write} has no {results.TABLE_START} ... {results.TABLE_END} block to fill")
    # the cost ratios, where the file has a block for them
    text = results.fill_table(text, results.efficiency_table(rows), results.EFFICIENCY_START,
                              results.EFFICIENCY_END) or text
    args.write.write_text(text)
    print(f"wrote the table into {args.write}")
    return 0


def cmd_compare(args) -> int:
    """The recipe comparison: two studies' summary.csv side by side, into the recipes block of --write."""
    first, second = results.read_summary(args.out), results.read_summary(args.against)
    if not first or not second:
        fail(f"no summary.csv in {args.out if not first else args.against}")
    table = results.recipe_table(first, second, (args.names[0], args.names[1]))
    if args.write is None:
        print(table)
        return 0
    start, end = results.block_markers(args.block)
    text = results.fill_table(args.write.read_text(), table, start, end)
    if text is None:
        fail(f"{args.write} has no {start} ... {end} block to fill")
    args.write.write_text(text)
    print(f"wrote the comparison into the {args.block} block of {args.write}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="train and measure every (model, seed) not done yet, then report")
    p.add_argument("--minutes", type=float, default=None,
                   help="equal CPU budget per run: whole epochs until at least M CPU-minutes")
    p.add_argument("--epochs", type=int, default=None, help="equal number of epochs per run (train.epochs)")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of every model")
    p.add_argument("--seeds-for", action="append", default=[], metavar="MODEL=S,S", help="other seeds for one model")
    p.add_argument("--cores", type=core_group, nargs="+", default=[(c,) for c in sorted(os.sched_getaffinity(0))],
                   help="one run at a time on each, one thread (default: the cores this process may use); "
                        "0,1 trains one run on both with two threads (a long run that must end within a "
                        "sitting), still measured on one")
    p.add_argument("--recipe", type=Path, default=RECIPE)
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides for every run (smoke tests)")
    p.add_argument("--data-root", type=Path, default=None, help="CamVid (default: segnet's data root)")
    p.add_argument("--limit-test", type=int, default=None, help="score the first N test frames only (smoke tests)")
    p.add_argument("--frames", type=int, default=5, help="timed inference passes (after one warm-up)")
    p.add_argument("--train-only", action="store_true",
                   help="train, do not measure: timings taken while other work shares the cores are not "
                        "comparable; run again without it on an idle machine to measure")
    p.add_argument("--backend", default="auto", choices=["auto", "torch"],
                   help="test and timing runtime (auto: the default)")
    p.add_argument("--runs", type=Path, default=None, help="run folders (default: runs/encoder_study/<budget>)")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--epochs-from", type=Path, default=None, metavar="RUNS",
                   help="each run trains as many epochs as the same model's finished run in RUNS, a runs folder or a "
                        "published one such as docs/results/encoders/60min (another recipe at the same budget: "
                        "a cosine schedule needs its epoch count)")
    p.add_argument("--epochs-factor", type=float, default=1.0, metavar="F",
                   help="with --epochs-from: F times as many epochs (a larger budget that means the same on "
                        "every machine: the runs in RUNS had equal CPU time on theirs)")
    p.add_argument("--extend-from", type=Path, default=None, metavar="RUNS",
                   help="start each run from the same model's finished run in RUNS (a smaller --minutes budget)")
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
    p.add_argument("--write", type=Path, default=None, help=f"replace the {results.TABLE_START} block of this file")
    p.set_defaults(func=cmd_table)
    p = sub.add_parser("compare", help="two recipes side by side: the --out study against the --against one")
    p.add_argument("--out", type=Path, required=True, help="the first recipe's study, e.g. docs/results/encoders/60min")
    p.add_argument("--against", type=Path, required=True, help="the second recipe's, e.g. docs/results/encoders/sgd")
    p.add_argument("--names", nargs=2, default=["Adam", "SGD"], metavar=("FIRST", "SECOND"))
    p.add_argument("--write", type=Path, default=None, help="replace a block of this file (--block)")
    p.add_argument("--block", default="recipes", help="which: <!-- encoder-study:BLOCK --> ... (default: recipes; "
                                                      "budgets for a budget against a larger one)")
    p.set_defaults(func=cmd_compare)
    args = parser.parse_args(argv)
    if getattr(args, "data_root", None) is None and args.command == "run":
        args.data_root = default_data_root()
    if args.command == "run":  # children run in the repository: every path absolute
        args.data_root, args.recipe = args.data_root.resolve(), args.recipe.resolve()
        args.runs = args.runs.resolve() if args.runs else None
        args.extend_from = args.extend_from.resolve() if args.extend_from else None
        args.epochs_from = args.epochs_from.resolve() if args.epochs_from else None
        args.epochs_for = {}
    args.out = args.out.resolve() if hasattr(args, "out") else None
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

"""A long CPU training campaign: phases of segnet training in chunks, one ledger, one curve.

    python tools/campaign.py run --plan PLAN.yaml --runs RUNS [--log docs/results/campaign] [--chunk-minutes 60]
    python tools/campaign.py report --plan PLAN.yaml --runs RUNS [--log docs/results/campaign]

A plan lists phases in order, each a segnet recipe, its overrides and a budget in CPU-hours:

    phases:
      - {name: half, recipe: configs/x_half.yaml, cpu_hours: 10}
      - {name: full, recipe: configs/x_full.yaml, cpu_hours: 6, overrides: [train.batch_size=2]}

A phase trains in chunks of --chunk-minutes wall minutes, each a child process (`segnet train
--config RECIPE run_dir=RUNS/<phase> max_minutes=M`, then `segnet train --resume RUNS/<phase>
max_minutes=M`) whose CPU time (wait4: the trainer and its loader workers) goes into the ledger
with the machine, the precision, the code's commit and the epoch it reached. A phase ends when the ledger says its
budget is spent or its recipe has no epoch left; the next phase starts from its best.pt
(`load_from`). Ctrl-C or SIGTERM stop the chunk at a safe point (segnet writes last.pt); the same
command resumes, on this machine or, with the run folders carried over, another one.

After every chunk the log folder gets ledger.json (committed: it survives the machine), each
phase's metrics.csv (<phase>.csv), <phase>.restart.pt (float16 weights of its last.pt) and
val_miou_vs_cpu_hours.png: val mIoU after every epoch against the campaign's cumulative CPU-hours,
one colour per phase, the machines named in the legend; a finished phase leaves <phase>.best.pt.
Losing the machine (the run folders) costs at most the chunks since the log folder was last
committed: without its run folder a phase restarts from <phase>.restart.pt at the epoch after the
ledger's last chunk (`<stage>.start_epoch`: the same lr schedule, epoch numbers and data order; the
optimizer's moments start afresh), and a phase whose predecessor's folder is gone starts from
<predecessor>.best.pt.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

from omegaconf import OmegaConf
from supervisor import Supervisor

from segnet.core.atomic import atomic_write
from segnet.core.choices import STAGES
from segnet.core.device import cpu_description

REPO = Path(__file__).resolve().parent.parent
SUPERVISOR = Supervisor(REPO)


def fail(message: str) -> None:
    print(f"campaign: error: {message}", file=sys.stderr)
    sys.exit(2)


def read_plan(path: Path) -> list[dict]:
    """The plan's phases, each with name, recipe (absolute), cpu_hours and overrides; refused in one line."""
    if not path.is_file():
        fail(f"plan not found: {path}")
    plan = OmegaConf.to_container(OmegaConf.load(path))
    phases = plan.get("phases") if isinstance(plan, dict) else None
    if not phases:
        fail(f"{path}: no 'phases' list")
    seen = set()
    for i, phase in enumerate(phases):
        where = f"{path}: phase {i + 1}"
        if not isinstance(phase, dict) or not {"name", "recipe", "cpu_hours"} <= set(phase):
            fail(f"{where} needs name, recipe and cpu_hours")
        if phase["name"] in seen or not str(phase["name"]).isidentifier():
            fail(f"{where}: name {phase['name']!r} must be a unique identifier")
        seen.add(phase["name"])
        recipe = Path(str(phase["recipe"]))
        phase["recipe"] = recipe if recipe.is_absolute() else REPO / recipe  # relative: to the repository
        if not phase["recipe"].is_file():
            fail(f"{where}: recipe not found: {phase['recipe']}")
        if not float(phase["cpu_hours"]) > 0:
            fail(f"{where}: cpu_hours must be > 0")
        phase.setdefault("overrides", [])
    return phases


def read_ledger(log: Path) -> list[dict]:
    path = log / "ledger.json"
    return json.loads(path.read_text()) if path.is_file() else []


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w") as f:
        f.write(json.dumps(data, indent=2) + "\n")


def phase_cpu_s(ledger: list[dict], phase: str) -> float:
    return sum(c["cpu_s"] for c in ledger if c["phase"] == phase)


def last_state(run: Path) -> dict:
    """epoch, finished and best val mIoU of a run folder's last.pt (empty before the first)."""
    if not (run / "last.pt").is_file():
        return {}
    from segnet.checkpoints.checkpoint import load_checkpoint

    ckpt = load_checkpoint(run / "last.pt")
    return {"stage": ckpt["stage"], "epoch": int(ckpt["epoch"]), "finished": bool(ckpt.get("finished")),
            "best_val_miou": ckpt["meta"].get("best_miou")}


def precision(run: Path) -> str | None:
    """The arithmetic the run's amp setting gives on this machine (float32 or bfloat16 on a CPU)."""
    if not (run / "config.yaml").is_file():
        return None
    import torch

    from segnet.core.device import resolve_amp

    dtype = resolve_amp(OmegaConf.load(run / "config.yaml").amp, torch.device("cpu"))
    return str(dtype or torch.float32).replace("torch.", "")


def code_commit() -> str | None:
    """The commit of the code that trains (this repository's HEAD, "+changes" when the work tree
    differs): a campaign spans sittings, and the code may move between them."""
    import subprocess

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False)

    head = git("rev-parse", "--short=12", "HEAD")
    if head.returncode != 0:
        return None  # not a git checkout (an unpacked copy)
    changed = git("status", "--porcelain", "--untracked-files=no", "--", "segnet", "tools", "configs").stdout.strip()
    return head.stdout.strip() + ("+changes" if changed else "")


# ---------------------------------------------------------------------------------- one chunk
def phase_chunks(ledger: list[dict], phase: str) -> list[dict]:
    """The phase's chunks that left a last.pt (they record its stage and epoch)."""
    return [c for c in ledger if c["phase"] == phase and "epoch" in c]


def restart_weights(log: Path, phase: str) -> Path:
    """float16 weights of the phase's last.pt, rewritten after every chunk and committed with the
    ledger: on another machine, without the run folder, the phase goes on from them."""
    return log / f"{phase}.restart.pt"


def final_weights(log: Path, phase: str) -> Path:
    """float16 weights of a finished phase's best.pt: the next phase starts from them when the
    run folder is gone."""
    return log / f"{phase}.best.pt"


def save_weights(source: Path, out: Path) -> None:
    from segnet.deploy.bundle import write_bundle

    write_bundle(source, out, max_bytes=2**31)  # the bundle format: what load_from reads


def phase_command(phases: list[dict], index: int, runs: Path, log: Path, chunks: list[dict],
                  chunk_minutes: float) -> list[str]:
    """The next chunk: resume the run folder; without one, restart from the committed weights of
    the phase's last chunk at the epoch after it (the folder was lost: another machine); else
    start the phase, from the previous phase's best weights. ``chunks``: phase_chunks of the ledger."""
    phase = phases[index]
    run = runs / phase["name"]
    segnet = [sys.executable, "-m", "segnet", "train"]
    if (run / "last.pt").is_file():
        return segnet + ["--resume", str(run), f"max_minutes={chunk_minutes}"]
    cmd = segnet + ["--config", str(phase["recipe"]), f"run_dir={run}", f"name=campaign-{phase['name']}",
                    f"max_minutes={chunk_minutes}", *phase["overrides"]]
    if chunks:
        weights, last = restart_weights(log, phase["name"]), chunks[-1]
        if not weights.is_file():
            fail(f"{run} is gone and {weights} does not exist: phase {phase['name']} cannot go on")
        cmd += [f"load_from={weights}", f"{last['stage']}.start_epoch={last['epoch'] + 1}"]
        return cmd + (["train.enabled=false"] if last["stage"] != "train" else [])
    if index > 0:
        previous = phases[index - 1]["name"]
        best = runs / previous / "best.pt"
        best = best if best.is_file() else final_weights(log, previous)
        if not best.is_file():
            fail(f"phase {phase['name']} starts from {runs / previous / 'best.pt'} or {best}; neither exists")
        cmd.append(f"load_from={best}")
    return cmd


def cmd_run(args) -> int:
    phases = read_plan(args.plan)
    args.runs.mkdir(parents=True, exist_ok=True)
    SUPERVISOR.stop_on_signals()
    for index, phase in enumerate(phases):
        name = phase["name"]
        run, budget = args.runs / name, float(phase["cpu_hours"]) * 3600
        while not SUPERVISOR.stopping:
            ledger = read_ledger(args.log)
            chunks = phase_chunks(ledger, name)
            state = last_state(run) or (chunks[-1] if chunks else {})
            if state.get("finished") or phase_cpu_s(ledger, name) >= budget:
                break
            cmd = phase_command(phases, index, args.runs, args.log, chunks, args.chunk_minutes)
            print(f"campaign: {name}: chunk {sum(c['phase'] == name for c in ledger) + 1} "
                  f"({phase_cpu_s(ledger, name) / 3600:.2f} of {budget / 3600:g} CPU-h spent)", flush=True)
            started = time.strftime("%Y-%m-%d %H:%M:%S")
            chunk = SUPERVISOR.run(cmd, args.runs / f"{name}.log")
            state = last_state(run)
            if state:
                save_weights(run / "last.pt", restart_weights(args.log, name))
            ledger.append({"phase": name, "started": started, "exit": chunk.code,
                           "wall_s": round(chunk.wall_s, 1), "cpu_s": round(chunk.cpu_s, 1),
                           "machine": cpu_description(), "precision": precision(run), "code": code_commit(),
                           "command": " ".join(cmd[2:]), **state})
            write_json(args.log / "ledger.json", ledger)
            report(phases, args.runs, args.log)
            if chunk.code not in (0, 130):
                fail(f"segnet train exited with {chunk.code} in phase {name} (log: {args.runs / name}.log)")
        if SUPERVISOR.stopping:
            print("campaign: stopped; run the same command again to resume", file=sys.stderr)
            return 130
        if (run / "best.pt").is_file():  # again each time: a raised budget may have found a better one
            save_weights(run / "best.pt", final_weights(args.log, name))  # same weights, same bytes
        print(f"campaign: {name}: done ({phase_cpu_s(read_ledger(args.log), name) / 3600:.2f} CPU-h)", flush=True)
    return 0


# ---------------------------------------------------------------------------------- the curve
def merge_metrics(metrics: Path, kept: Path) -> None:
    """``kept`` (the phase's committed CSV) := its rows before the run's first epoch, then the
    run's rows with the CPU-minutes of those earlier rows added: a run restarted at start_epoch
    has only its own epochs and CPU time. Rewriting from the run each time keeps this idempotent."""
    with open(metrics, newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    earlier = []
    if rows and kept.is_file():
        with open(kept, newline="") as f:
            first = (STAGES.index(rows[0]["stage"]), int(rows[0]["epoch"]))
            earlier = [r for r in csv.DictReader(f) if (STAGES.index(r["stage"]), int(r["epoch"])) < first]
    base = float(earlier[-1]["cpu_minutes"] or 0) if earlier else 0.0
    for r in rows if base else []:
        if r.get("cpu_minutes"):
            r["cpu_minutes"] = f"{float(r['cpu_minutes']) + base:.3f}"
    with atomic_write(kept, "w") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(earlier + rows)


def report(phases: list[dict], runs: Path, log: Path) -> bool:
    """<phase>.csv copies and val_miou_vs_cpu_hours.png from the run folders and the ledger; False
    before any phase has a scored epoch."""
    ledger, offset, curves = read_ledger(log), 0.0, []
    for phase in phases:
        metrics = runs / phase["name"] / "metrics.csv"
        if metrics.is_file():
            merge_metrics(metrics, log / f"{phase['name']}.csv")
        if not (log / f"{phase['name']}.csv").is_file():
            break
        with open(log / f"{phase['name']}.csv", newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("val_miou") and r.get("cpu_minutes")]
        machines = sorted({c["machine"].split(",")[0] + (f" ({c['precision']})" if c.get("precision") else "")
                           for c in ledger if c["phase"] == phase["name"]})
        curves.append((phase["name"], machines, [offset + float(r["cpu_minutes"]) / 60 for r in rows],
                       [100 * float(r["val_miou"]) for r in rows]))
        offset += phase_cpu_s(ledger, phase["name"]) / 3600
    if not curves:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5))
    for name, machines, x, y in curves:
        ax.plot(x, y, marker=".", markersize=3, label=f"{name}: {'; '.join(machines)}")
    ax.set(xlabel="campaign CPU-hours (all cores)", ylabel="val mIoU %", title="CamVid val mIoU during the campaign")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    with atomic_write(log / "val_miou_vs_cpu_hours.png") as f:
        fig.savefig(f, dpi=100, format="png")
    plt.close(fig)
    return True


def cmd_report(args) -> int:
    if report(read_plan(args.plan), args.runs, args.log):
        print(f"wrote {args.log / 'val_miou_vs_cpu_hours.png'}")
    else:
        print(f"campaign: no epoch scored yet in {args.runs} or {args.log}: nothing to draw")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func in (("run", cmd_run), ("report", cmd_report)):
        p = sub.add_parser(name)
        p.add_argument("--plan", type=Path, required=True)
        p.add_argument("--runs", type=Path, required=True, help="run folders, one per phase (outside the work tree)")
        p.add_argument("--log", type=Path, default=REPO / "docs" / "results" / "campaign",
                       help="ledger, per-phase metrics and the curve (committed)")
        p.set_defaults(func=func)
        if name == "run":
            p.add_argument("--chunk-minutes", type=float, default=60, help="wall minutes per chunk (max_minutes)")
    args = parser.parse_args(argv)
    args.plan, args.runs, args.log = args.plan.resolve(), args.runs.resolve(), args.log.resolve()
    args.log.mkdir(parents=True, exist_ok=True)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

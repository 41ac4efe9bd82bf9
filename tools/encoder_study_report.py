"""The encoder study's results (tools/encoder_study.py): result.json, summary.csv, the figure, the table.

    <run>/result.json       one run: its study.json ledger, metrics.csv and segnet.bench.study's measurements
    summary.csv             one row per (model, seed): COLUMNS, then iou_<class>
    <run>.study.json, <run>.result.json   copies of the run's ledger and result.json
    <model>-seed<k>.csv     each run's metrics.csv (its run folder stays out of git), cpu_minutes filled in:
                            measured by segnet (cpu_minutes_from = measured) or, for runs trained
                            before segnet measured it, the run's CPU time (study.json) spread evenly over
                            its epochs (cpu_minutes_from = ledger/epochs: one thread, same work per epoch)
    miou_vs_cpu_hours.png   test mIoU vs training CPU-hours and vs parameters, one point per model
    val_miou_vs_cpu_minutes.png   val mIoU after every epoch against cumulative CPU-minutes, every run
"""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

COLUMNS = [
    "model", "seed", "network", "budget", "epochs", "steps", "train_wall_min", "train_cpu_h", "train_img_s",
    "peak_rss_mib", "step_peak_mib", "best_val_miou", "test_miou", "test_frames", "params_m",
    "gflops_360x480", "gflops_input", "infer_backend", "infer_s_frame", "infer_cpu_s_frame", "miou_per_cpu_h",
    "threads", "machine",
]
TABLE_START, TABLE_END = "<!-- encoder-study:table -->", "<!-- /encoder-study:table -->"
EFFICIENCY_START, EFFICIENCY_END = "<!-- encoder-study:efficiency -->", "<!-- /encoder-study:efficiency -->"


def block_markers(name: str) -> tuple[str, str]:
    """The comments around a generated block of a markdown file, e.g. ``recipes``."""
    return f"<!-- encoder-study:{name} -->", f"<!-- /encoder-study:{name} -->"


def read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def read_rows(path: Path) -> list[dict]:
    """The rows of a CSV file with a header (none when there is no file yet)."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def metric_rows(run: Path) -> list[dict]:
    """The rows of a run's metrics.csv, one per epoch (none before the first)."""
    return read_rows(run / "metrics.csv")


def result_row(run: Path, measured: dict) -> dict:
    """A run's result.json: what training took (its study.json ledger and metrics.csv) beside what
    segnet.bench.study.measure_run measured, in summary.csv's column order."""
    ledger, rows = read_json(run / "study.json"), metric_rows(run)
    cpu_h = ledger["train_cpu_s"] / 3600
    trained = {
        "model": ledger["model"], "seed": ledger["seed"], "budget": ledger["conditions"]["budget"],
        "epochs": len(rows), "steps": int(rows[-1]["step"]), "train_wall_min": ledger["train_wall_s"] / 60,
        "train_cpu_h": cpu_h,
        "train_img_s": statistics.median(float(r["images_per_s"]) for r in rows if r["images_per_s"]),
        "peak_rss_mib": ledger["peak_rss_mib"],
        "best_val_miou": max(float(r["val_miou"]) for r in rows if r["val_miou"]),
        "miou_per_cpu_h": measured["test_miou"] / cpu_h if cpu_h > 0 else float("nan"),
    }
    result = {**trained, **measured}
    return {**{k: result[k] for k in COLUMNS}, **{k: v for k, v in measured.items() if k.startswith("iou_")}}


def with_cpu_minutes(rows: list[dict], ledger: dict) -> list[dict]:
    """``rows`` (a metrics.csv) with every epoch's cumulative CPU-minutes and where it came from."""
    if rows and all(r.get("cpu_minutes") for r in rows):
        return [{**r, "cpu_minutes_from": "measured"} for r in rows]
    total = ledger["train_cpu_s"] / 60
    return [{**r, "cpu_minutes": f"{total * (i + 1) / len(rows):.6g}", "cpu_minutes_from": "ledger/epochs"}
            for i, r in enumerate(rows)]


def late_val_gain(epochs: list[dict], last: float = 0.2) -> float:
    """How much the best val mIoU rose in the last ``last`` of the run's CPU time: ~0 when the curve
    had flattened, clearly > 0 when the budget ended it while it was still climbing."""
    scored = [(float(e["cpu_minutes"]), float(e["val_miou"])) for e in epochs if e.get("val_miou")]
    cut = (1 - last) * scored[-1][0]
    before = [m for t, m in scored if t <= cut]
    return max(m for _, m in scored) - max(before) if before else float("nan")


def write_csv(path: Path, rows: list[dict]) -> None:
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with open(path.with_suffix(".tmp"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    path.with_suffix(".tmp").replace(path)


def read_summary(out: Path) -> list[dict]:
    """The rows of ``out``/summary.csv (none when there is no file yet)."""
    return read_rows(out / "summary.csv")


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def report(runs: Path, out: Path, order: list[str]) -> list[dict]:
    """summary.csv (kept rows of runs no longer on disk + every result.json), metrics copies, figure."""
    out.mkdir(parents=True, exist_ok=True)
    rows = {(r["model"], int(r["seed"])): r for r in read_summary(out)}
    for path in sorted(runs.glob("*/result.json")):
        r = {k: _fmt(v) for k, v in json.loads(path.read_text()).items()}
        epochs = with_cpu_minutes(metric_rows(path.parent), read_json(path.parent / "study.json"))
        rows[(r["model"], int(r["seed"]))] = {**r, "late_val_gain": _fmt(late_val_gain(epochs))}
        write_csv(out / f"{r['model']}-seed{r['seed']}.csv", epochs)
        for name in ("study", "result"):  # the ledger and measurements outlive the run folder
            (out / f"{path.parent.name}.{name}.json").write_text((path.parent / f"{name}.json").read_text())
    ordered = [rows[k] for k in sorted(rows, key=lambda k: (order.index(k[0]) if k[0] in order else 99, k))]
    if not ordered:
        return []
    classes = [k for k in ordered[0] if k.startswith("iou_")]
    with open(out / "summary.csv.tmp", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS + ["late_val_gain"] + classes, extrasaction="ignore")
        w.writeheader()
        w.writerows(ordered)
    (out / "summary.csv.tmp").replace(out / "summary.csv")
    figure(ordered, out / "miou_vs_cpu_hours.png")
    curves(ordered, out, out / "val_miou_vs_cpu_minutes.png")
    print(f"wrote {out / 'summary.csv'} ({len(ordered)} runs), {out / 'miou_vs_cpu_hours.png'}, "
          f"{out / 'val_miou_vs_cpu_minutes.png'}")
    return ordered


def per_model(rows: list[dict]) -> dict[str, dict[str, tuple[float, float, int]]]:
    """model -> column -> (mean, sample sd or 0, seeds), for the numeric columns."""
    grouped: dict[str, list[dict]] = {}
    for r in rows:
        grouped.setdefault(r["model"], []).append(r)
    stats = {}
    for model, runs in grouped.items():
        stats[model] = {}
        for key in runs[0]:
            try:
                values = [float(r[key]) for r in runs]
            except (TypeError, ValueError):
                continue
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            stats[model][key] = (statistics.fmean(values), sd, len(values))
    return stats


def figure(rows: list[dict], path: Path) -> None:
    """Test mIoU against training CPU-hours and against parameters: one point per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    stats = per_model(rows)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for ax, key, label in ((axes[0], "train_cpu_h", "training CPU-hours"), (axes[1], "params_m", "parameters (M)")):
        for model, s in stats.items():
            (x, xerr, n), (y, yerr, _) = s[key], s["test_miou"]
            ax.errorbar(x, y, xerr=xerr or None, yerr=yerr or None, fmt="o", capsize=3, label=model)
            name = model + (f" (n={n})" if n > 1 else "")
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set(xlabel=label, xscale="log" if key == "params_m" else "linear")
        plain = FuncFormatter(lambda v, _: f"{v:g}")  # 20, not 2x10^1, on the log axis
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(plain)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test mIoU")
    budget = rows[0]["budget"]
    fig.suptitle(f"CamVid test mIoU, trained from scratch, {budget} per model (error bars: sd across seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def curves(rows: list[dict], out: Path, path: Path) -> None:
    """Val mIoU after every epoch against cumulative CPU-minutes, one line per run, read from the
    per-run CSVs in ``out`` (so the figure follows from the committed files)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 5.5))
    for r in rows:
        name = f"{r['model']}-seed{r['seed']}"
        with open(out / f"{name}.csv", newline="") as f:
            epochs = [e for e in csv.DictReader(f) if e.get("val_miou")]
        x = [float(e["cpu_minutes"]) for e in epochs]
        dashed = any(e.get("cpu_minutes_from") != "measured" for e in epochs)
        ax.plot(x, [100 * float(e["val_miou"]) for e in epochs], linestyle="--" if dashed else "-",
                marker=".", markersize=3, label=name + (" (CPU per epoch from the ledger)" if dashed else ""))
    ax.set(xlabel="training CPU-minutes (user + system, all threads)", ylabel="val mIoU %",
           title=f"CamVid val mIoU after every epoch, trained from scratch, {rows[0]['budget']} per run")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# (header, summary column, decimals, as a percentage)
TABLE = [
    ("test mIoU %", "test_miou", 1, True), ("params M", "params_m", 2, False),
    ("GFLOPs 360x480", "gflops_360x480", 1, False), ("GFLOPs at input", "gflops_input", 1, False),
    ("train img/s", "train_img_s", 2, False), ("peak RSS MiB", "peak_rss_mib", 0, False),
    ("step peak MiB", "step_peak_mib", 0, False), ("CPU s/frame", "infer_cpu_s_frame", 3, False),
    ("train CPU-h", "train_cpu_h", 2, False), ("mIoU %/CPU-h", "miou_per_cpu_h", 1, True),
    ("epochs", "epochs", 0, False), ("best val mIoU %", "best_val_miou", 1, True),
    ("val gain, last 20 % of CPU", "late_val_gain", 1, True),
]


def markdown_table(rows: list[dict]) -> str:
    """One line per model: mean (± sample sd where seeds differ) of the TABLE columns."""
    lines = ["| model | seeds | " + " | ".join(h for h, *_ in TABLE) + " |", "|---" * (len(TABLE) + 2) + "|"]
    for model, s in per_model(rows).items():
        cells = []
        for _, key, digits, pct in TABLE:
            if key not in s:  # a column older summaries lack
                cells.append("–")
                continue
            (mean, sd, n), scale = s[key], 100 if pct else 1
            cells.append(f"{mean * scale:.{digits}f}" + (f" ± {sd * scale:.{digits}f}" if n > 1 and sd > 0 else ""))
        lines.append(f"| {model} | {s['seed'][2]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# (header, summary column it divides test mIoU % by, scale of that column)
EFFICIENCY = [
    ("per M parameters", "params_m", 1), ("per CPU-hour of training", "train_cpu_h", 1),
    ("per GiB of a training step", "step_peak_mib", 1 / 1024), ("per 10 ms of CPU inference", "infer_cpu_s_frame", 100),
]


def efficiency_table(rows: list[dict]) -> str:
    """Test mIoU (%) per unit of each cost, one line per model (means over seeds): the ratios the
    study's answer compares, best of each column in bold."""
    stats = per_model(rows)
    ratios = {m: [100 * s["test_miou"][0] / (s[key][0] * scale) for _, key, scale in EFFICIENCY]
              for m, s in stats.items()}
    best = [max(r[i] for r in ratios.values()) for i in range(len(EFFICIENCY))]
    lines = ["| model | test mIoU % | " + " | ".join(h for h, *_ in EFFICIENCY) + " |",
             "|---" * (len(EFFICIENCY) + 2) + "|"]
    for model, values in ratios.items():
        cells = [f"**{v:.2f}**" if v == b else f"{v:.2f}" for v, b in zip(values, best)]
        lines.append(f"| {model} | {100 * stats[model]['test_miou'][0]:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def recipe_table(first: list[dict], second: list[dict], names: tuple[str, str]) -> str:
    """Two recipes on the networks both trained (seed means): epochs, best val and test mIoU of each,
    and the difference; which recipe wins is read on val."""
    a, b = per_model(first), per_model(second)
    one, two = names
    header = (f"| model | epochs | best val % {one} | best val % {two} | val {two} - {one} | test % {one} | "
              f"test % {two} | train CPU-h {one} | train CPU-h {two} |")
    lines = [header, "|---" * 9 + "|"]
    for model in [m for m in a if m in b]:
        x, y = a[model], b[model]
        cells = [f"{x['epochs'][0]:.0f}" + ("" if x["epochs"][0] == y["epochs"][0] else f" / {y['epochs'][0]:.0f}")]
        cells += [f"{100 * x['best_val_miou'][0]:.1f}", f"{100 * y['best_val_miou'][0]:.1f}",
                  f"{100 * (y['best_val_miou'][0] - x['best_val_miou'][0]):+.1f}",
                  f"{100 * x['test_miou'][0]:.1f}", f"{100 * y['test_miou'][0]:.1f}",
                  f"{x['train_cpu_h'][0]:.2f}", f"{y['train_cpu_h'][0]:.2f}"]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def fill_table(text: str, table: str, start: str = TABLE_START, end: str = TABLE_END) -> str | None:
    """``text`` with the block between ``start`` and ``end`` replaced by ``table``; None without one."""
    if start not in text or end not in text:
        return None
    before, rest = text.split(start, 1)
    return f"{before}{start}\n{table}\n{end}{rest.split(end, 1)[1]}"

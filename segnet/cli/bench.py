"""``segnet bench models|predict|loader``: figures recorded in docs/RESULTS.md."""

import importlib

_BENCHES = {
    "models": "parameters, GFLOPs, training-step time and memory, eval frames/s per model",
    "predict": "inference frames/s at 360x480, float32 vs bfloat16",
    "loader": "CamVid train split through Dataset + DataLoader, frames/s",
    "serve": "segnet serve requests/s and p50/p95/p99 at 1, 4, 16 clients vs a Model.predict loop",
}


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="speed and memory benchmarks")
    sub = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    for name, help_text in _BENCHES.items():
        try:
            module = importlib.import_module(f"segnet.bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"segnet.bench.{name}":
                continue
            raise
        bench = sub.add_parser(name, help=help_text)
        module.add_arguments(bench)
        bench.set_defaults(func=module.run)

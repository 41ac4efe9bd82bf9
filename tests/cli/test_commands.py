"""The command line as a layer over the Python API: flags become the API's arguments, results
become the printed lines, failures become one ``segnet: error:`` line and an exit code.

The API is replaced by recording stand-ins here, so these tests see only what the CLI does
(what the API does: tests/test_api.py, tests/inference/, tests/training/; the real commands
end to end on bad input: test_bad_inputs.py).
"""

from __future__ import annotations

import inspect
import signal
from pathlib import Path

import pytest

import segnet
from segnet.cli import main


class FakeModel:
    name = "fc_densenet"

    def __init__(self, source, **options):
        self.source, self.options = source, options

    def describe(self) -> str:
        return "fc_densenet (tiny.pt); cpu, float32"


class FakeResult:
    """What segnet.evaluate returns, as far as the CLI uses it."""

    num_images = 4
    saved: Path | None = None

    def save(self, folder):
        self.saved = Path(folder)
        return []

    def describe(self) -> str:
        return "fc_densenet on CamVid test (4 images; ...)"

    def table(self) -> str:
        return "<IoU table>"


@pytest.fixture
def api(monkeypatch):
    """Replace segnet's job functions by recorders; ``api[name]`` holds each call's (args, kwargs)."""
    calls: dict[str, list] = {}

    def recorder(name, result):
        real = inspect.signature(getattr(segnet, name))

        def record(*args, **kwargs):
            real.bind(*args, **kwargs)  # the call fits the real function's signature
            calls.setdefault(name, []).append((args, kwargs))
            if isinstance(result, BaseException):
                raise result
            return result(*args, **kwargs) if callable(result) else result
        return record

    def stub(name, result=None):
        monkeypatch.setattr(segnet, name, recorder(name, result))

    stub("load_model", lambda source=None, **options: FakeModel(source, **options))
    calls["stub"] = stub
    return calls


def lines(text: str) -> list[str]:
    return text.strip().splitlines()


# ----------------------------------------------------------------------------- evaluate
def test_evaluate_passes_its_flags_and_prints_the_result(api, tmp_path, capsys):
    result = FakeResult()
    api["stub"]("evaluate", result)
    ckpt = tmp_path / "run" / "best.pt"
    assert main(["evaluate", "--checkpoint", str(ckpt), "--split", "val", "--data-root", str(tmp_path / "data"),
                 "--device", "cpu", "--amp", "off", "--tta", "flip", "--backend", "torch", "--bn", "batch",
                 "--batch-size", "3", "--rescale", "factor"]) == 0
    [(args, options)] = api["load_model"]
    assert args == (ckpt,) and options == {"device": "cpu", "amp": "off", "tta": "flip", "backend": "torch",
                                           "rescale": "factor"}
    [((model, root), kwargs)] = api["evaluate"]
    assert model.source == ckpt and root == tmp_path / "data"
    assert kwargs == {"split": "val", "batch_size": 3, "bn": "batch", "protocol": "standard", "progress": False}
    assert result.saved == ckpt.parent / "eval_val"  # default --out: beside the checkpoint
    assert lines(capsys.readouterr().out) == [
        result.describe(), "<IoU table>",
        f"wrote {ckpt.parent / 'eval_val'}/metrics.json, per_class_iou.csv, confusion_matrix.png"]


def test_evaluate_defaults_and_bundled_output_folder(api, tmp_path, monkeypatch):
    result = FakeResult()
    api["stub"]("evaluate", result)
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate"]) == 0
    [((model, root), kwargs)] = api["evaluate"]
    assert model.source is None and root is None  # the API picks the bundled model and the data root
    assert (kwargs["batch_size"], kwargs["bn"], kwargs["protocol"]) == (2, "running", "standard")
    assert result.saved == Path("outputs") / "bundled" / "eval_test"


@pytest.mark.parametrize("extra", [["--bn", "running"], ["--batch-size", "4"]])
def test_evaluate_paper_protocol_refuses_its_own_settings(api, extra, capsys):
    api["stub"]("evaluate", FakeResult())
    assert main(["evaluate", "--protocol", "paper", *extra]) == 2
    assert lines(capsys.readouterr().err) == [
        "segnet: error: --protocol paper sets the BatchNorm mode and batch size itself; "
        "leave out --bn and --batch-size"]
    assert "evaluate" not in api and "load_model" not in api  # refused before any work


def test_library_errors_about_a_value_name_the_flag(api, capsys):
    api["stub"]("evaluate", segnet.SegnetError("batch_size must be >= 1, got 0"))
    assert main(["evaluate", "--batch-size", "0"]) == 2
    assert lines(capsys.readouterr().err) == ["segnet: error: --batch-size: batch_size must be >= 1, got 0"]
    api["stub"]("evaluate", segnet.SegnetError("fps_data/test/a.png must be a file"))  # a path, not a value
    assert main(["evaluate"]) == 2
    assert lines(capsys.readouterr().err) == ["segnet: error: fps_data/test/a.png must be a file"]


# ----------------------------------------------------------------------------- predict
def test_predict_builds_options_calls_the_api_and_prints_the_summary(api, tmp_path, capsys):
    summary = {"images": 2, "seconds": 4.0, "images_per_second": 0.5, "videos": [
        {"input": "clip.avi", "output": "clip_overlay.webm", "codec": "VP80", "fps": 10.0, "frames": 7,
         "frames_per_second": 3.5, "stopped": None, "frames_dir": None, "source_frames": 7, "browser_playable": True}]}
    api["stub"]("predict_files", summary)
    out = tmp_path / "out"
    assert main(["predict", "a.png", "clip.avi", "--out", str(out), "--opacity", "0.7", "--side-by-side", "--no-legend",
                 "--save-frames", "--max-frames", "9", "--batch-size", "2", "--device", "cpu"]) == 0
    [((model, inputs, folder, options), kwargs)] = api["predict_files"]
    assert model.options["device"] == "cpu" and inputs == ["a.png", "clip.avi"] and folder == out
    assert options == segnet.OutputOptions(opacity=0.7, with_input=True, legend=False, save_frames=True,
                                           max_frames=9, batch_size=2)
    assert kwargs == {"progress": False}
    assert lines(capsys.readouterr().out) == [
        "model: fc_densenet (tiny.pt); cpu, float32",
        f"2 image(s) in 4.0 s (0.50 images/s) -> {out}/<name>_labels.png, _color.png, _overlay.png",
        f"clip.avi: 7 frames at 3.50 frames/s -> {out}/clip_overlay.webm (VP80, 10 fps)",
    ]


@pytest.mark.parametrize("argv, message", [
    (["--opacity", "5"], "--opacity: opacity must be in [0, 1], got 5"),
    (["--max-frames", "0"], "--max-frames: max frames must be >= 1, got 0"),
    (["--batch-size", "0"], "--batch-size: batch size must be >= 1, got 0"),
])
def test_predict_checks_its_flags_before_loading_the_model(api, argv, message, tmp_path, capsys):
    api["stub"]("predict_files", {})
    assert main(["predict", "a.png", "--out", str(tmp_path / "out"), *argv]) == 2
    assert lines(capsys.readouterr().err) == [f"segnet: error: {message}"]
    assert "load_model" not in api and "predict_files" not in api


def test_a_library_error_is_one_line_and_exit_2(api, tmp_path, capsys):
    api["stub"]("predict_files", segnet.SegnetError("input not found: a.png"))
    assert main(["predict", "a.png", "--out", str(tmp_path / "out")]) == 2
    assert lines(capsys.readouterr().err) == ["segnet: error: input not found: a.png"]


# ----------------------------------------------------------------------------- export
def test_export_passes_format_and_calibration(api, tmp_path, capsys):
    xml = tmp_path / "m.xml"

    def write(model, path, **kwargs):
        Path(path).write_bytes(b"x" * 1000)
        Path(path).with_suffix(".bin").write_bytes(b"x" * 2_000_000)
        return Path(path)

    api["stub"]("export", write)
    assert main(["export", "--checkpoint", "tiny.pt", "--format", "openvino", "--int8", "--calibration-frames", "5",
                 "--data-root", str(tmp_path), "--out", str(xml)]) == 0
    [((model, path), kwargs)] = api["export"]
    assert model.source == Path("tiny.pt") and path == xml
    assert kwargs == {"format": "openvino", "int8": True, "calibration_frames": 5, "data_root": tmp_path}
    assert lines(capsys.readouterr().out) == [
        f"wrote {xml} + m.bin (2.0 MB): fc_densenet, OpenVINO IR, INT8, calibrated on 5 train frames"]


def test_export_int8_needs_openvino_before_any_work(api, tmp_path, capsys):
    api["stub"]("export", tmp_path / "m.onnx")
    assert main(["export", "--int8", "--out", str(tmp_path / "m.onnx")]) == 2
    assert lines(capsys.readouterr().err) == ["segnet: error: --int8 needs --format openvino"]
    assert "load_model" not in api and "export" not in api


# ----------------------------------------------------------------------------- demo
def test_demo_calls_the_api_and_prints_every_step(api, tmp_path, capsys):
    from segnet.api.jobs import DemoResult

    result = FakeResult()
    made = DemoResult(evaluation=result, clip=tmp_path / "Seq05VD.mkv", codec="FFV1", fps=5.0,
                      overlay=tmp_path / "Seq05VD_overlay.webm", frames=4, frames_per_second=2.0, precision="float32",
                      threads=1)
    api["stub"]("demo", made)
    assert main(["demo", "--out", str(tmp_path), "--fps", "5", "--device", "cpu"]) == 0
    [((model, root, out), kwargs)] = api["demo"]
    assert model.options["device"] == "cpu" and root is None and out == tmp_path
    assert kwargs["fps"] == 5.0 and kwargs["options"] == segnet.OutputOptions()
    assert lines(capsys.readouterr().out) == [
        "model: fc_densenet (tiny.pt); cpu, float32",
        "assembled 4 frames of Seq05VD into Seq05VD.mkv (FFV1, 5 fps)",
        f"4 frames segmented at 2.00 frames/s (float32, 1 threads) -> {tmp_path}/Seq05VD_overlay.webm",
        "per-class IoU on the 4 Seq05VD frames against testannot:",
        "<IoU table>",
        f"wrote {tmp_path}/Seq05VD.mkv, Seq05VD_overlay.webm, metrics.json, per_class_iou.csv, confusion_matrix.png",
    ]


def test_demo_names_the_fps_flag(api, tmp_path, capsys):
    api["stub"]("demo", segnet.SegnetError("fps must be positive, got 0"))
    assert main(["demo", "--out", str(tmp_path), "--fps", "0"]) == 2
    assert lines(capsys.readouterr().err) == ["segnet: error: --fps: fps must be positive, got 0"]


# ----------------------------------------------------------------------------- train
def _run(stopped: str, best: float | None = 0.5, is_main: bool = True):
    return segnet.TrainingRun(Path("runs/r"), Path("runs/r/best.pt"), best, stopped, {}, is_main=is_main)


def test_train_loads_the_config_with_overrides_and_device(api, capsys):
    api["stub"]("load_config", "CONFIG")
    api["stub"]("train", _run("completed", 0.61234))
    assert main(["train", "--config", "recipe.yaml", "train.epochs=2", "--device", "cpu"]) == 0
    assert api["load_config"] == [(("recipe.yaml", ["train.epochs=2", "device=cpu"]), {})]
    [((config,), kwargs)] = api["train"]
    assert config == "CONFIG" and kwargs["resume_hint"] == "segnet train --resume {run_dir}"
    assert kwargs["command"].startswith("segnet ")  # recorded in the checkpoints' meta
    assert lines(capsys.readouterr().out) == ["done (completed): best val mIoU 0.6123; model runs/r/best.pt"]


@pytest.mark.parametrize("run, printed", [
    (_run("time budget", None), ["done (time budget): best val mIoU n/a; model runs/r/best.pt",
                                 "continue with: segnet train --resume runs/r"]),
    (_run("already finished"), ["runs/r: run already finished; best model runs/r/best.pt "
                                "(a larger train.epochs or finetune.epochs continues it)"]),
    (_run("completed", is_main=False), []),  # torchrun: only the first process reports
])
def test_resume_prints_how_the_run_ended(api, run, printed, capsys):
    api["stub"]("resume", run)
    assert main(["train", "--resume", "runs/r", "train.epochs=3"]) == 0
    [((run_dir, overrides), kwargs)] = api["resume"]
    assert (run_dir, overrides, kwargs["resume_hint"]) == ("runs/r", ["train.epochs=3"],
                                                           "segnet train --resume {run_dir}")
    assert lines(capsys.readouterr().out) == printed


def test_an_interrupted_run_prints_where_its_state_is_and_exits_130(api, capsys, monkeypatch):
    from segnet.training.stop import TrainingInterrupted

    monkeypatch.setattr(signal, "signal", lambda *a: None)  # the CLI ignores late signals: not in this process
    api["stub"]("resume", TrainingInterrupted(Path("runs/r"), resumable=True))
    assert main(["train", "--resume", "runs/r"]) == 130
    assert lines(capsys.readouterr().err) == [
        "segnet: interrupted; resumable state in runs/r/last.pt (segnet train --resume runs/r)"]
    api["stub"]("resume", TrainingInterrupted(Path("runs/r"), resumable=False))
    assert main(["train", "--resume", "runs/r"]) == 130
    assert lines(capsys.readouterr().err) == ["segnet: interrupted"]


@pytest.mark.parametrize("argv", [["train"], ["train", "--config", "a.yaml", "--resume", "runs/r"]])
def test_train_needs_exactly_one_of_config_and_resume(api, argv, capsys):
    assert main(argv) == 2
    assert lines(capsys.readouterr().err) == ["segnet: error: give exactly one of --config FILE or --resume RUN_DIR"]


@pytest.mark.parametrize("argv", [["--help"], ["bench", "--help"], ["train", "--config", "missing.yaml"],
                                  ["train", "--config", "configs/quick_cpu.yaml", "train.epochz=3"]])
def test_help_and_a_bad_recipe_answer_without_loading_torch(argv, tmp_path):
    """torch (and smp, torchvision) take seconds to import: `segnet --help` and a mistyped recipe
    must not wait for them."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    script = (f"import sys\nfrom segnet.cli import main\ntry:\n    code = main({argv!r})\nexcept SystemExit as e:\n"
              f"    code = e.code\nprint('torch loaded' if 'torch' in sys.modules else 'no torch', code)")
    done = subprocess.run([sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] in ("no torch 0", "no torch 2"), done.stdout + done.stderr

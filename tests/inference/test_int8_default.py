"""INT8 is the default CPU precision of a .pt only when its accuracy check accepts it:
float32 and INT8 mIoU on VAL frames, measured once per IR and kept beside it; a rejected or
unverifiable INT8 runs float32 with one line saying why; `segnet bench predict` still times it.

The data is a CamVid-like folder of a few real frames (2 train, 3 val) so that a check costs
seconds; the tiny random-weight FC-DenseNet's real verdict is unknown, so tests pin it with
the threshold."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from segnet.checkpoints.checkpoint import model_fields, save_checkpoint
from segnet.checkpoints.exported import load_exported
from segnet.checkpoints.sources import resolve_checkpoint
from segnet.deploy import int8_check, ir_cache, loading
from segnet.deploy.loading import load_predictor
from segnet.inference import runtimes
from segnet.jobs.evaluate import evaluate


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_model) -> Path:
    torch.manual_seed(0)
    fields = model_fields(tiny_model.build(), "fc_densenet", tiny_model.options, normalization=tiny_model.normalization)
    fields["input_scale"] = 0.5
    path = tmp_path_factory.mktemp("int8_default") / "tiny.pt"
    save_checkpoint(path, fields)
    return path


def _dataset(root: Path, camvid_root: Path, counts: dict[str, int]) -> Path:
    """A CamVid layout holding the first ``counts[split]`` real pairs of each split (symlinks)."""
    for split, count in counts.items():
        for name in sorted(p.name for p in (camvid_root / split).glob("*.png"))[:count]:
            for folder in (split, f"{split}annot"):
                (root / folder).mkdir(parents=True, exist_ok=True)
                (root / folder / name).symlink_to(camvid_root / folder / name)
    return root


@pytest.fixture(scope="module")
def with_val(tmp_path_factory, camvid_root) -> Path:
    return _dataset(tmp_path_factory.mktemp("with_val"), camvid_root, {"train": 2, "val": 3})


@pytest.fixture(scope="module")
def no_val(tmp_path_factory, camvid_root) -> Path:
    return _dataset(tmp_path_factory.mktemp("no_val"), camvid_root, {"train": 2})


@pytest.fixture(scope="module")
def converted(tmp_path_factory, tiny, with_val) -> Path:
    """A cache holding the tiny model's float32 and INT8 IRs (no verdict): each test copies it."""
    cache = tmp_path_factory.mktemp("converted")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEGNET_CACHE_DIR", str(cache))
        mp.setenv("SEGNET_DATA_ROOT", str(with_val))
        ckpt = resolve_checkpoint(tiny)[0]
        ir_cache.cached_ir(ckpt, "tiny", "float32")
        ir_cache.cached_ir(ckpt, "tiny", "int8")
    assert not list(cache.rglob("*.check.json"))
    return cache / "openvino"


def _default_predictor(monkeypatch, ckpt_path: Path, cache: Path, root: Path, converted: Path | None = None):
    """What `segnet predict` builds for a .pt on this CPU (--backend auto, --amp auto); ``converted``:
    IRs to start the cache with (the conversions are not what these tests are about)."""
    if converted is not None and not (cache / "openvino").exists():
        shutil.copytree(converted, cache / "openvino")
    monkeypatch.delenv("SEGNET_BACKEND", raising=False)
    monkeypatch.setenv("SEGNET_CACHE_DIR", str(cache))
    monkeypatch.setenv("SEGNET_DATA_ROOT", str(root))  # the tiny checkpoint has no config: its dataset
    ckpt, source = resolve_checkpoint(ckpt_path)
    return load_predictor(ckpt, source, device="cpu")


def _check_file(cache: Path) -> Path:
    found = list((cache / "openvino").glob("*-int8-c*.check.json"))
    assert len(found) == 1, found
    return found[0]


def test_accepted_int8_is_the_default_and_its_numbers_are_evaluate_s(tiny, with_val, converted, tmp_path, monkeypatch,
                                                                      capsys):
    monkeypatch.setattr(int8_check, "INT8_MAX_MIOU_LOSS", 100.0)  # accept whatever random weights give
    predictor = _default_predictor(monkeypatch, tiny, tmp_path, with_val, converted)
    assert (predictor.backend_name, predictor.precision) == ("openvino", "int8")
    assert "rejected" not in capsys.readouterr().out
    check_file = _check_file(tmp_path)
    verdict = json.loads(check_file.read_text())
    assert verdict["accepted"] is True and verdict["split"] == "val" and verdict["frames"] == 3
    # the same numbers as `segnet evaluate` of each IR on those 3 val frames (all of the split)
    fp32_ir = next((tmp_path / "openvino").glob("*-fp32.xml"))
    int8_ir = check_file.with_name(check_file.name.replace(".check.json", ".xml"))
    for ir, amp, key in ((fp32_ir, "off", "fp32_miou"), (int8_ir, "auto", "int8_miou")):
        result = evaluate(load_exported(ir), str(ir), with_val, split="val", device="cpu", amp=amp,
                          backend="openvino", progress=False)
        assert verdict[key] == pytest.approx(100 * result["miou"], abs=1e-3), key
    assert 0 < verdict["int8_miou"] < 100


def test_rejected_int8_runs_float32_says_why_and_is_checked_once(tiny, with_val, converted, tmp_path, monkeypatch,
                                                                  capsys):
    monkeypatch.setattr(int8_check, "INT8_MAX_MIOU_LOSS", -100.0)  # INT8 would have to gain 100 points
    predictor = _default_predictor(monkeypatch, tiny, tmp_path, with_val, converted)
    assert (predictor.backend_name, predictor.precision) == ("openvino", runtimes.plugin_float_precision())
    verdict = json.loads(_check_file(tmp_path).read_text())
    assert verdict["accepted"] is False
    lines = [line for line in capsys.readouterr().out.splitlines() if "INT8" in line]
    assert len(lines) == 1 and "rejected" in lines[0] and f"{verdict['int8_miou']:.2f}" in lines[0], lines
    assert lines[0].endswith(f"running the float32 IR on OpenVINO ({runtimes.plugin_float_precision()} "
                             "arithmetic on this CPU)")

    def measured_again(*args, **kwargs):
        raise AssertionError("the INT8 check ran a second time")

    monkeypatch.setattr(int8_check, "_split_miou", measured_again)
    monkeypatch.setattr(int8_check, "INT8_MAX_MIOU_LOSS", 100.0)  # the kept verdict decides, not a new one
    again = _default_predictor(monkeypatch, tiny, tmp_path, with_val, converted)
    assert again.precision == runtimes.plugin_float_precision()
    assert "rejected" in capsys.readouterr().out
    # asked for explicitly (measurements), the rejected IR is still there
    exported = loading.cached_openvino(resolve_checkpoint(tiny)[0], "tiny", "int8", verify=False)
    assert exported is not None and exported["precision"] == "int8"


def test_no_val_split_is_not_verified_and_runs_float32(tiny, no_val, converted, tmp_path, monkeypatch, capsys):
    predictor = _default_predictor(monkeypatch, tiny, tmp_path, no_val, converted)
    assert (predictor.backend_name, predictor.precision) == ("openvino", runtimes.plugin_float_precision())
    lines = [line for line in capsys.readouterr().out.splitlines() if "INT8" in line]
    assert len(lines) == 1 and "not verified" in lines[0] and "val" in lines[0], lines
    assert not list((tmp_path / "openvino").glob("*.check.json"))  # checked again once val frames exist


@pytest.mark.parametrize("accepted", [True, False])
def test_bench_times_int8_and_marks_the_path_predict_takes(tiny, with_val, converted, tmp_path, monkeypatch, accepted):
    monkeypatch.setattr(int8_check, "INT8_MAX_MIOU_LOSS", 100.0 if accepted else -100.0)
    # the verdict, kept in the cache the bench reads
    _default_predictor(monkeypatch, tiny, tmp_path, with_val, converted)
    out = tmp_path / "bench.json"
    run = subprocess.run([sys.executable, "-m", "segnet", "bench", "predict", "--models", "--checkpoint", str(tiny),
                          "--frames", "1", "--agree-frames", "0", "--size", "64", "96",
                          "--paths", "openvino", "openvino-int8", "--json", str(out)],
                         capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert run.returncode == 0, run.stderr
    rows = {r["path"]: r for r in json.loads(out.read_text())}
    assert rows["openvino-int8"]["precision"] == "int8" and rows["openvino-int8"]["seconds_per_frame"] > 0
    assert rows["openvino-int8"]["int8_check"]["accepted"] is accepted
    assert [p for p, r in rows.items() if r.get("default")] == ["openvino-int8" if accepted else "openvino"]
    assert ("accepted" if accepted else "rejected") in run.stdout

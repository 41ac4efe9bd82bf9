"""Checkpoint files: sharded saves (bounded sizes, a missing or torn shard is one clear error;
exact resume across sharded chunks is in test_train.py), the permissions of what segnet writes, and what the loader
says about files that are not checkpoints."""

from __future__ import annotations

import os

import pytest
import torch

from segnet.checkpoints.checkpoint import load_checkpoint, model_fields, save_checkpoint
from segnet.checkpoints.shards import shard_files
from segnet.errors import SegnetError
from segnet.models import create_model

TINY_OPTIONS = {"growth_rate": 4, "down_layers": [2, 2], "bottleneck_layers": 2, "first_channels": 8}
SHARD_MB = 0.05  # the tiny model's state (weights, RMSprop averages) takes about 4 of these


def tiny_payload() -> dict:
    torch.manual_seed(0)
    model = create_model("fc_densenet", 11, **TINY_OPTIONS)
    return {**model_fields(model, "fc_densenet", TINY_OPTIONS), "big": torch.arange(40_000, dtype=torch.float32),
            "nested": {"rng": [torch.tensor([1, 2, 3]), 7, "x"], "empty": torch.zeros(0, 3)}}


def assert_same(got, want) -> None:
    if isinstance(want, torch.Tensor):
        assert isinstance(got, torch.Tensor) and got.dtype == want.dtype and torch.equal(got, want)
    elif isinstance(want, dict):
        assert got.keys() == want.keys()
        for key in want:
            assert_same(got[key], want[key])
    elif isinstance(want, (list, tuple)):
        assert type(got) is type(want) and len(got) == len(want)
        for a, b in zip(got, want):
            assert_same(a, b)
    else:
        assert got == want


def test_sharded_save_round_trips_with_bounded_files(tmp_path):
    payload = tiny_payload()
    save_checkpoint(tmp_path / "last.pt", payload, shard_mb=SHARD_MB)
    first = shard_files(tmp_path / "last.pt")
    assert len(first) >= 3
    assert all(p.stat().st_size <= SHARD_MB * 2**20 for p in first)
    assert (tmp_path / "last.pt").stat().st_size < 64 * 1024  # the index holds no tensors
    assert_same(load_checkpoint(tmp_path / "last.pt"), payload)

    save_checkpoint(tmp_path / "last.pt", payload, shard_mb=SHARD_MB)  # a new set replaces the old one
    second = shard_files(tmp_path / "last.pt")
    assert len(second) == len(first) and not set(first) & set(second)
    save_checkpoint(tmp_path / "last.pt", payload)  # one file again: no shard left behind
    assert not shard_files(tmp_path / "last.pt")
    assert_same(load_checkpoint(tmp_path / "last.pt"), payload)


@pytest.mark.parametrize("damage", ["missing", "truncated", "altered"])
def test_a_missing_or_torn_shard_is_one_clear_error(tmp_path, damage):
    save_checkpoint(tmp_path / "last.pt", tiny_payload(), shard_mb=SHARD_MB)
    shard = shard_files(tmp_path / "last.pt")[1]
    if damage == "missing":
        shard.unlink()
    elif damage == "truncated":
        shard.write_bytes(shard.read_bytes()[:1000])
    else:
        data = bytearray(shard.read_bytes())
        data[len(data) // 2] ^= 0xFF
        shard.write_bytes(bytes(data))
    with pytest.raises(SegnetError) as err:
        load_checkpoint(tmp_path / "last.pt")
    message = str(err.value)
    assert "\n" not in message and str(tmp_path / "last.pt") in message and shard.name in message
    assert ("missing" if damage == "missing" else "damaged") in message


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        save_checkpoint(tmp_path / "a.pt", tiny_payload())
        save_checkpoint(tmp_path / "b.pt", tiny_payload(), shard_mb=SHARD_MB)
    finally:
        os.umask(old)
    for path in [tmp_path / "a.pt", tmp_path / "b.pt", *shard_files(tmp_path / "b.pt")]:
        assert path.stat().st_mode & 0o777 == 0o640, path


def test_what_the_loader_says_about_files_that_are_not_checkpoints(tmp_path):
    onnx_bytes = b"\x08\x08\x12\x07pytorch\x1a\x052.4.0" + bytes(200)
    for name in ("model.onnx", "model.pt"):
        (tmp_path / name).write_bytes(onnx_bytes)
        with pytest.raises(SegnetError, match="is an ONNX model, not a checkpoint"):
            load_checkpoint(tmp_path / name)

    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(SegnetError, match="is a folder, not a checkpoint .no best.pt or last.pt"):
        load_checkpoint(run)
    save_checkpoint(run / "last.pt", tiny_payload())
    with pytest.raises(SegnetError, match=f"its model is {run / 'last.pt'}"):
        load_checkpoint(run)
    save_checkpoint(run / "best.pt", tiny_payload())
    with pytest.raises(SegnetError, match=f"its model is {run / 'best.pt'}"):
        load_checkpoint(run)

    torch.save(create_model("fc_densenet", 11, **TINY_OPTIONS).state_dict(), tmp_path / "weights.pt")
    with pytest.raises(SegnetError, match=r"bare state_dict .* wrap it as \{'model': state_dict, 'model_name'"):
        load_checkpoint(tmp_path / "weights.pt")

import argparse

from segnet.bench import models as bench


def test_growth_table_log_dense_is_sparser():
    rows = {(r["L"], r["block"]): r for r in bench.growth_table([8], growth_rate=4, in_channels=8, size=8)}
    dense, log = rows[8, "dense"], rows[8, "log-dense"]
    assert dense["connections"] == 36 and log["connections"] == 21  # sum over i of (log2 i) + 1 inputs
    assert log["gflops"] < dense["gflops"] and log["saved_mib"] < dense["saved_mib"]


def test_arguments_parse():
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--models", "fc_densenet56", "--skip", "train", "eval", "growth"])
    assert args.models == ["fc_densenet56"] and args.batch == 4


def test_json_records_mark_the_default_training_step(tmp_path):
    """One record per (model, variant), the train default marked once, the port measured beside it."""
    import json

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    out = tmp_path / "bench.json"
    args = parser.parse_args(["--models", "fc_densenet103", "--batch", "1", "--train-size", "64", "64",
                              "--eval-size", "32", "32", "--repeats", "1", "--skip", "growth", "flops",
                              "--memory-efficient", "--threads", "1", "--json", str(out)])  # fmt: skip
    assert bench.run(args) == 0
    records = json.loads(out.read_text())
    assert [r["variant"] for r in records] == ["default", "memory_efficient", "port"]
    assert [r["default"] for r in records] == [True, False, False]
    default, efficient, port = records
    assert default["channels_last"] is True  # auto on the CPU, as segnet train
    assert default["optimizer"] == "rmsprop" and default["model"] == "fc_densenet103"
    assert efficient["memory_efficient"] and port["model"] == "tiramisu_port_103"
    for r in records:
        assert r["train_seconds_per_step"] > 0 and r["train_images_per_s"] > 0 and r["peak_rss_gib"] > 0
        assert abs(r["speedup_vs_port"] - port["train_seconds_per_step"] / r["train_seconds_per_step"]) < 1e-9


def test_compile_variant_is_the_recipe_with_compile_on():
    """--compile times the step segnet train takes with compile=true; the default stays uncompiled."""
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    variants = dict(bench._variants(parser.parse_args(["--compile", "--no-port"]), "fc_densenet56"))
    assert list(variants) == ["default", "compiled"]
    assert variants["compiled"] == variants["default"] + ["compile=true"]
    assert "compiled" not in dict(bench._variants(parser.parse_args([]), "fc_densenet56"))


def test_a_step_from_late_weights_with_and_without_flushing_denormals(tmp_path):
    """--weights starts the step from a checkpoint (another network's is refused); --flush-denormal
    adds the variant segnet train runs with flush_denormal=true."""
    import json

    import pytest

    from segnet.core.paths import bundled_model_path

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    out = tmp_path / "bench.json"
    common = ["--batch", "2", "--train-size", "32", "32", "--repeats", "1", "--skip", "growth", "flops", "eval",
              "--threads", "1", "--weights", str(bundled_model_path()), "--flush-denormal"]
    assert bench.run(parser.parse_args(["--models", "fc_densenet56", *common, "--json", str(out)])) == 0
    records = json.loads(out.read_text())
    assert [(r["variant"], r["flush_denormal"]) for r in records] == [("default", False), ("flush_denormal", True)]
    assert all(r["weights"] == str(bundled_model_path()) and r["train_seconds_per_step"] > 0 for r in records)
    assert all(0 <= r["subnormal_fraction"] < 1 for r in records)
    with pytest.raises(RuntimeError, match="holds another network"):
        bench.run(parser.parse_args(["--models", "fc_densenet67", *common]))


def test_the_subnormal_share_counts_values_below_the_smallest_normal_float():
    import torch

    from segnet.bench.train_step import subnormal_fraction

    tiny = torch.finfo(torch.float32).tiny
    values = torch.tensor([0.0, tiny, tiny / 4, -tiny / 1024, 1.0])
    assert subnormal_fraction([values, torch.zeros(3, dtype=torch.long)]) == 2 / 5
    assert subnormal_fraction([torch.tensor([tiny / 8], dtype=torch.float64)]) == 0.0  # normal in float64
    assert subnormal_fraction([]) == 0.0

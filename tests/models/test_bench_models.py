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

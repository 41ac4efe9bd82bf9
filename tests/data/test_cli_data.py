import numpy as np

from segnet.cli import main

from .conftest import build_camvid, write_label


def test_check_real_data(camvid_root, capsys):
    assert main(["data", "check", "--root", str(camvid_root)]) == 0
    out = capsys.readouterr().out
    for split, count in [("train", 367), ("val", 101), ("test", 233), ("trainval", 468)]:
        assert f"{split:<10}{count:>6}" in out
    assert "Bicyclist" in out and "8.8587" in out and "0.2793" in out
    assert "OK" in out


def test_check_broken_folder_lists_every_error(tmp_path, capsys):
    root = build_camvid(tmp_path / "CamVid")
    (root / "trainannot" / "train_000.png").unlink()  # image without label
    (root / "val" / "val_001.png").write_bytes(b"garbage")  # corrupt image
    write_label(root / "testannot" / "test_000.png", np.full((36, 48), 99, np.uint8))  # out of range
    write_label(root / "testannot" / "test_001.png", np.zeros((10, 10), np.uint8))  # size mismatch
    assert main(["data", "check", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "errors (4)" in out
    for name in ["train_000.png", "val_001.png", "test_000.png", "test_001.png"]:
        assert name in out
    assert "label value 99" in out and "size mismatch" in out


def test_check_missing_root(tmp_path, capsys):
    assert main(["data", "check", "--root", str(tmp_path / "none")]) == 1
    assert "CamVid root not found" in capsys.readouterr().out


def test_download_failure_is_one_line(tmp_path, capsys):
    code = main(["data", "download", "--root", str(tmp_path / "CamVid"), "--url", "http://127.0.0.1:9/x.zip"])
    assert code == 2
    assert capsys.readouterr().err.startswith("segnet: error: cannot download")

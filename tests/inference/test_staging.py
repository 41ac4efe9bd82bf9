"""Staging folders: stale ones from killed runs are cleared, outputs get the user's umask permissions."""

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from segnet.cli import main
from segnet.data.images import write_png
from segnet.jobs.staging import Staging, _host_tag, remove_stale_staging


def _staging_folders(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".staging-" in p.name)


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_run_leaves_staging_that_the_next_run_removes(tmp_path):
    out = tmp_path / "o_huge"
    killed = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os, signal
        from segnet.jobs.staging import Staging
        with Staging({str(out)!r}) as stage:
            stage.path("half.png").write_bytes(b"half")
            os.kill(os.getpid(), signal.SIGKILL)
        """)], timeout=120)
    assert killed.returncode == -9
    assert len(_staging_folders(tmp_path)) == 1 and not out.exists()  # what a kill leaves

    with Staging(out) as stage:
        assert _staging_folders(tmp_path) == [stage.root.name]  # the stale one is gone already
        stage.path("new.txt").write_text("new")
    assert _staging_folders(tmp_path) == []
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]


def test_only_folders_of_gone_processes_on_this_machine_are_removed(tmp_path):
    out, here, dead = tmp_path / "out", _host_tag(), _dead_pid()
    keep = [
        f".out.staging-{here}-{os.getpid()}-abc123",  # a live job writing to the same --out
        f".out.staging-{'0' * 8 if here != '0' * 8 else '1' * 8}-{dead}-abc123",  # another machine's
        ".out.staging-k3j_x9a1",  # an older segnet's name: owner unknown
        f".other.staging-{here}-{dead}-abc123",  # another destination
    ]
    stale = f".out.staging-{here}-{dead}-abc123"
    for name in keep + [stale]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.png").write_bytes(b"x")
    assert remove_stale_staging(out) == [tmp_path / stale]
    assert _staging_folders(tmp_path) == sorted(keep)


@pytest.fixture
def umask():
    def set_mask(mask: int) -> None:
        os.umask(mask)

    old = os.umask(0o022)
    yield set_mask
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_outputs_get_the_umask_permissions(tmp_path, umask, mask):
    umask(mask)
    out = tmp_path / "new" / "out"
    with Staging(out) as stage:
        write_png(stage.path("ids.png"), np.zeros((4, 5), np.uint8))
        stage.path("notes.txt").write_text("x")
    for name in ("ids.png", "notes.txt"):
        assert _mode(out / name) == 0o666 & ~mask, name
    assert _mode(out) == _mode(tmp_path / "new") == 0o777 & ~mask


def test_predict_outputs_get_the_umask_permissions(tmp_path, umask, tiny_model_ckpt):
    umask(0o022)
    write_png(tmp_path / "frame.png", np.full((64, 80, 3), 90, np.uint8))
    assert main(["predict", str(tmp_path / "frame.png"), "--checkpoint", str(tiny_model_ckpt),
                 "--device", "cpu", "--out", str(tmp_path / "out")]) == 0
    files = [p for p in (tmp_path / "out").rglob("*")]
    assert files and {p.name: oct(_mode(p)) for p in files} == {
        p.name: oct(0o755 if p.is_dir() else 0o644) for p in files}


def test_onnx_model_and_weights_cache_get_the_umask_permissions(tmp_path, umask, tiny_model_ckpt):
    from segnet.checkpoints.checkpoint import load_checkpoint
    from segnet.data.class_weights import median_frequency_weights
    from segnet.deploy.export import export_onnx

    umask(0o022)
    label = (write_png(tmp_path / "label.png", np.arange(20, dtype=np.uint8).reshape(4, 5) % 12)
             or tmp_path / "label.png")
    median_frequency_weights([label], cache_dir=tmp_path / "cache")
    export_onnx(load_checkpoint(tiny_model_ckpt), tmp_path / "model.onnx", example_size=(64, 64))
    written = [tmp_path / "model.onnx", *(tmp_path / "cache").iterdir()]
    assert len(written) == 2 and {oct(_mode(p)) for p in written} == {"0o644"}
    assert not [p for p in tmp_path.rglob(".*")]  # no temporary file left

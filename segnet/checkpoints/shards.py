"""Checkpoints written as several shard files of bounded size, read back as one dict.

Why: a machine that returns files of at most 16 MiB each cannot hand back the ~75 MB
resumable state of FC-DenseNet103 with RMSprop in one file (``checkpoint.shard_mb``).

Layout for ``last.pt`` (every file loadable with ``torch.load(weights_only=True)``):

    last.pt                     the index: the checkpoint with each tensor replaced by a
                                placeholder, the pieces each tensor was cut into, and every
                                shard's file name, size and SHA-256
    last.pt.<token>-000.shard   {"pieces": [tensor, ...]}, at most ``shard_bytes`` each
    last.pt.<token>-001.shard   ...

Atomic as a set: the shards of one save carry a fresh token, so they never overwrite the
shards the current index names; the index is renamed into place last, and only then are the
shards no index names any more deleted. A crash leaves the old set or the new one (plus, at
worst, unreferenced shards that the next save removes).
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
from pathlib import Path
from typing import Any

import torch

from segnet.core.atomic import atomic_write, os_reason
from segnet.errors import SegnetError

INDEX_KEY = "segnet_sharded_checkpoint"  # value: format version
_PLACEHOLDER = "__segnet_tensor__"
# torch.save's zip layout adds a header and an entry per tensor; keep the files under the limit.
_FILE_OVERHEAD, _PIECE_OVERHEAD = 8 * 1024, 512


def write_torch_file(path: Path, obj: Any) -> None:
    """``torch.save(obj)`` to ``path`` atomically; a failed write is one SegnetError naming the file
    and the cause. Serialised in memory first: torch.save into a full disk reports only "unexpected
    pos" from its zip writer, while a plain write raises the OSError whose errno says why."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    try:
        with atomic_write(path) as f:
            f.write(buffer.getbuffer())
    except OSError as exc:
        raise SegnetError(f"cannot write {path}: {os_reason(exc)}") from None


def shard_files(path: Path) -> list[Path]:
    """Every shard file beside ``path`` from any save (referenced or not)."""
    return sorted(path.parent.glob(f"{path.name}.*.shard"))


def _strip(obj: Any, tensors: list[torch.Tensor]) -> Any:
    """``obj`` with every tensor replaced by a placeholder dict (the tensor appended to ``tensors``)."""
    if isinstance(obj, torch.Tensor):
        tensors.append(obj)
        return {_PLACEHOLDER: len(tensors) - 1}
    if isinstance(obj, dict):
        return {k: _strip(v, tensors) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_strip(v, tensors) for v in obj)
    return obj


def _fill(obj: Any, tensors: list[torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if len(obj) == 1 and _PLACEHOLDER in obj:
            return tensors[int(obj[_PLACEHOLDER])]
        return {k: _fill(v, tensors) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_fill(v, tensors) for v in obj)
    return obj


def _pieces(tensor: torch.Tensor, budget: int) -> list[torch.Tensor]:
    """The tensor flattened and cut into copies of at most ``budget`` bytes (a copy: torch.save
    of a view would write its whole underlying storage)."""
    flat = tensor.detach().cpu().reshape(-1)
    per_piece = max(1, budget // max(flat.element_size(), 1))
    if flat.numel() == 0:
        return [flat.clone()]
    return [flat[start : start + per_piece].clone() for start in range(0, flat.numel(), per_piece)]


def save_sharded(path: str | os.PathLike, payload: dict[str, Any], shard_bytes: int) -> list[Path]:
    """Write ``payload`` as shard files of at most ``shard_bytes`` plus the index at ``path``."""
    path = Path(path)
    tensors: list[torch.Tensor] = []
    skeleton = _strip(payload, tensors)
    budget = shard_bytes - _FILE_OVERHEAD - _PIECE_OVERHEAD
    if budget < 1024:
        raise SegnetError(f"shard size {shard_bytes} bytes is too small for a checkpoint shard")
    shards: list[list[torch.Tensor]] = [[]]
    used = 0
    layout = []  # per tensor: shape and [[shard, position], ...] of its pieces
    for tensor in tensors:
        places = []
        for piece in _pieces(tensor, budget):
            size = piece.numel() * piece.element_size() + _PIECE_OVERHEAD
            if shards[-1] and used + size > budget:
                shards.append([])
                used = 0
            shards[-1].append(piece)
            used += size
            places.append([len(shards) - 1, len(shards[-1]) - 1])
        layout.append({"shape": list(tensor.shape), "pieces": places})

    token = secrets.token_hex(4)
    written, entries = [], []
    try:
        for number, pieces in enumerate(shards):
            shard = path.parent / f"{path.name}.{token}-{number:03d}.shard"
            write_torch_file(shard, {"pieces": pieces})
            written.append(shard)
            entries.append({"file": shard.name, "bytes": shard.stat().st_size, "sha256": _sha256(shard)})
        write_torch_file(path, {INDEX_KEY: 1, "skeleton": skeleton, "tensors": layout, "shards": entries})
    except BaseException:  # no index names this save's shards: they are only clutter (and disk)
        for shard in written:
            shard.unlink(missing_ok=True)
        raise
    remove_unreferenced(path, {s.name for s in written})
    return written


def remove_unreferenced(path: Path, keep: set[str]) -> None:
    """Delete the shard files of earlier saves of ``path`` (after its new index is in place)."""
    for shard in shard_files(path):
        if shard.name not in keep:
            shard.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_sharded(path: Path, index: dict[str, Any], map_location) -> dict[str, Any]:
    """Rebuild the checkpoint an index describes; a missing or damaged shard is a SegnetError."""
    shards = index["shards"]
    loaded = []
    for entry in shards:
        shard = path.parent / entry["file"]
        if not shard.is_file():
            raise SegnetError(f"cannot read checkpoint {path}: its shard {shard.name} is missing "
                              f"(a sharded checkpoint needs all {len(shards)} shard files beside it)")
        size = shard.stat().st_size
        if size != entry["bytes"] or _sha256(shard) != entry["sha256"]:
            what = (f"{size} bytes, the index says {entry['bytes']}" if size != entry["bytes"]
                    else "content differs from the index")
            raise SegnetError(f"cannot read checkpoint {path}: its shard {shard.name} is damaged ({what})")
        try:
            loaded.append(torch.load(shard, map_location=map_location, weights_only=True)["pieces"])
        except Exception as exc:  # hash matched but the file is not a shard: written by something else
            raise SegnetError(f"cannot read checkpoint {path}: shard {shard.name} is unreadable ({exc})") from None
    tensors = []
    for spec in index["tensors"]:
        pieces = [loaded[s][i] for s, i in spec["pieces"]]
        flat = pieces[0] if len(pieces) == 1 else torch.cat(pieces)
        tensors.append(flat.reshape(spec["shape"]))
    return _fill(index["skeleton"], tensors)

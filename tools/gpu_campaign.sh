#!/usr/bin/env bash
# One wall-clock chunk of a training recipe on a lent GPU machine (issue 12), resumable across calls.
#
#   tools/gpu_campaign.sh prepare                      # HERE, once: .whl/ (wheels) and .camvid/ (CamVid, JPEG q90)
#   tools/gpu_campaign.sh run RECIPE [key=value ...]   # THERE: install wheels, link CamVid, train one chunk
#   tools/gpu_campaign.sh stage                        # THERE: wheels -> /tmp/site, .camvid -> /tmp/campaign_data
#
# The device machine has torch, torchvision, timm, torchmetrics, OpenCV, matplotlib, tensorboard and
# tqdm; segmentation-models-pytorch, albumentations and omegaconf travel as wheels in .whl/ (carry it).
# CamVid as shipped (PNG, 182 MB) exceeds the 64 MiB that travels: `prepare` writes .camvid/ with the
# images as JPEG quality 90 and the label PNGs unchanged (about 41 MB; carry it).
#
# `run` writes into $OUT: last.pt (index) + its shard files (checkpoint.shard_mb, each under the 16 MiB
# a returned file may have), metrics.csv and train.log. To continue, copy those files into .state/
# here, carry .state too, and call `run` again with the same recipe: it resumes from .state/last.pt.
# What travels is at most 64 MiB per call: FC-DenseNet103's state (75 MB with RMSprop) cannot travel
# together with .camvid (train+val 26 MB) and .whl (8 MB). So `stage` copies data and wheels out of the
# repository copy on a first call; a next call on the same warm machine (within its idle time) then
# carries only .state, and `run` finds /tmp/site and /tmp/campaign_data.
#
# Environment: OUT (required for run), CHUNK_MINUTES (8), SHARD_MB (15), STATE (.state), PYTHON (python3),
# DATA (.camvid if present, else /tmp/campaign_data if present, else data/CamVid).
#
# Dry run on a CPU (tiny model, seconds; see docs/results/training.md "GPU campaign"):
#   OUT=/tmp/campaign CHUNK_MINUTES=0.05 SHARD_MB=0.05 PYTHON=.venv/bin/python tools/gpu_campaign.sh run \
#     configs/fc_densenet103.yaml model.name=fc_densenet "model.options={growth_rate: 4, down_layers: [2, 2], \
#     bottleneck_layers: 2, first_channels: 8}" data.limit_train=8 data.limit_val=2 data.scale=0.25 \
#     train.crop_size=64 device=cpu
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
WHEELS=(segmentation-models-pytorch albumentations albucore pydantic pydantic-core annotated-types
        typing-inspection typing-extensions stringzilla simsimd omegaconf)

prepare() {
    # the versions installed here, as cp312 manylinux wheels (the device's python is 3.12)
    mkdir -p .whl
    for name in "${WHEELS[@]}"; do
        version=$("$PYTHON" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name")
        "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
            --platform manylinux_2_24_x86_64 --platform manylinux_2_27_x86_64 -d .whl "$name==$version"
    done
    "$PYTHON" - <<'EOF'
from pathlib import Path
import shutil, cv2
src, dst = Path("data/CamVid"), Path(".camvid")
for split in ("train", "val", "test"):
    (dst / split).mkdir(parents=True, exist_ok=True)
    for image in sorted((src / split).glob("*.png")):
        out = dst / split / (image.stem + ".jpg")
        if not out.exists():
            cv2.imwrite(str(out), cv2.imread(str(image)), [cv2.IMWRITE_JPEG_QUALITY, 90])
    shutil.copytree(src / f"{split}annot", dst / f"{split}annot", dirs_exist_ok=True)
EOF
    du -sh .whl .camvid
}

install_wheels() {
    [ -d /tmp/site ] && export PYTHONPATH=/tmp/site
    if ! "$PYTHON" -c "import segmentation_models_pytorch, albumentations, omegaconf" 2>/dev/null; then
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
        export PYTHONPATH=/tmp/site
    fi
}

stage() {
    install_wheels
    [ -d .camvid ] && { rm -rf /tmp/campaign_data; cp -r .camvid /tmp/campaign_data; }
    du -sh /tmp/site /tmp/campaign_data 2>/dev/null || true
}

run() {
    local recipe=$1; shift
    : "${OUT:?set OUT to the folder whose files come back}"
    local chunk=${CHUNK_MINUTES:-8} shard=${SHARD_MB:-15} state=${STATE:-.state} data=${DATA:-}
    if [ -z "$data" ]; then
        for data in .camvid /tmp/campaign_data data/CamVid; do [ -d "$data" ] && break; done
    fi
    data=$(cd "$data" && pwd)
    mkdir -p "$OUT"
    install_wheels
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
    [ -e data/CamVid ] || ln -s "$data" data/CamVid
    local run_dir=runs/campaign common=(max_minutes="$chunk" checkpoint.shard_mb="$shard" data.root="$data")
    # SIGTERM a little after the budget: training saves a resumable last.pt at the next whole step
    local limit; limit=$("$PYTHON" -c "print(int(float('$chunk') * 60 + 45))")
    local args
    if [ -f "$state/last.pt" ]; then
        rm -rf "$run_dir" && mkdir -p "$run_dir" && cp "$state"/* "$run_dir"/
        args=(train --resume "$run_dir" "${common[@]}" "$@")
    else
        rm -rf "$run_dir"
        args=(train --config "$recipe" run_dir="$run_dir" "${common[@]}" "$@")
    fi
    set +e
    timeout -s TERM "$limit" "$PYTHON" -m segnet "${args[@]}" 2>&1 | tee "$OUT/train.log"
    local rc=${PIPESTATUS[0]}
    set -e
    cp "$run_dir"/last.pt "$run_dir"/last.pt.*.shard "$run_dir"/metrics.csv "$OUT"/ 2>/dev/null || true
    local count; count=$(find "$OUT" -maxdepth 1 -type f | wc -l)
    echo "campaign: segnet exited $rc; $count files in $OUT:"
    ls -l "$OUT"
    [ "$count" -le 8 ] || echo "campaign: warning: more than 8 files; only 8 come back (raise SHARD_MB)"
    if find "$OUT" -maxdepth 1 -type f -size +16M | grep -q .; then
        echo "campaign: warning: a file is over 16 MiB and will not come back (lower SHARD_MB)"
    fi
    if [ "$rc" -eq 130 ]; then  # the safety-net SIGTERM: state saved at a whole step
        echo "campaign: stopped at the time limit with a resumable last.pt"
        rc=0
    fi
    return "$rc"
}

case "${1:-}" in
    prepare) prepare ;;
    stage) stage ;;
    run) shift; [ $# -ge 1 ] || { echo "usage: $0 run RECIPE [key=value ...]" >&2; exit 2; }; run "$@" ;;
    *) echo "usage: $0 prepare | stage | run RECIPE [key=value ...]" >&2; exit 2 ;;
esac

"""Training configuration: an OmegaConf structured config (dataclasses) with checked values.

The dataclass defaults *are* the paper recipe (Jegou et al. 2017, FC-DenseNet on CamVid;
Log-DenseNet appendix C.1): RMSprop, lr 1e-3 decayed by 0.995 per epoch, L2 1e-4 on conv
weights, 224x224 random crops + horizontal flip, batch 3, up to 750 epochs with early
stopping on validation mIoU (patience 100), then fine-tuning on full frames at lr 1e-4
(patience 50). A recipe file in ``configs/`` only states what differs; it may name a
``base:`` recipe (path relative to itself) to start from.

    cfg = load_config("configs/fc_densenet103.yaml", ["train.epochs=10", "data.scale=0.5"])

The fields and their defaults; segnet.config.load reads recipes into them, segnet.config.checks
checks their values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


@dataclass
class ModelConfig:
    name: str = "fc_densenet103"
    # Keyword options for segnet.models.create_model (deep_supervision, dropout, ...).
    options: Dict[str, Any] = field(default_factory=dict)


@dataclass
class DataConfig:
    root: Optional[str] = None  # None: segnet.core.paths.default_data_root()
    train_split: str = "train"
    val_split: str = "val"
    # Train (and validate) the network on frames resized by this factor; checkpoints record
    # it as input_scale. Validation always scores the full-resolution labels.
    scale: float = 1.0
    hflip: bool = True
    # Deployment augmentation (off in the paper recipes): scale each training frame by
    # scale * U(lo, hi) (padding with void where it falls below the crop), and colour / light /
    # blur changes (segnet.data.transforms.photometric_steps).
    scale_jitter: Optional[List[float]] = None
    photometric: bool = False
    # probability of repainting the Sky-labelled pixels as a clear blue sky (needs a class "Sky")
    sky_repaint: float = 0.0
    num_workers: int = 2
    val_batch_size: int = 1
    limit_train: Optional[int] = None  # use only the first N frames (tests, smoke runs)
    limit_val: Optional[int] = None
    # GPU: decode the split once to a uint8 tensor on the device, crop/flip there.
    preload_to_device: bool = False
    mean: List[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    std: List[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])


@dataclass
class StageConfig:
    """One training stage; ``train`` (random crops) then ``finetune`` (full frames)."""

    enabled: bool = True
    epochs: int = 750
    lr: float = 1e-3
    lr_decay: float = 0.995  # multiplied into the lr after every epoch (schedule: exponential)
    # exponential (x lr_decay per epoch, the paper's), cosine or poly (power 0.9, mmsegmentation's):
    # both fall to 0 at `epochs`, so they need the real epoch count, not a budget's 1000
    schedule: str = "exponential"
    warmup_epochs: int = 0  # linear warm-up: lr x 1/(n+1), 2/(n+1), ... over the first n epochs
    # The first epoch this run trains: a run restarted from another's weights (load_from) after its
    # folder was lost goes on with that run's lr schedule, epoch numbers and data order from here.
    start_epoch: int = 1
    patience: Optional[int] = 100  # epochs without a better val mIoU; None: no early stop
    crop_size: Optional[int] = 224  # square random crop (in scaled pixels); None: full frames
    batch_size: int = 3
    max_minutes: Optional[float] = None  # wall-clock budget for this stage


@dataclass
class OptimConfig:
    name: str = "rmsprop"
    # L2 coefficient as the official Lasagne code uses it: weight_decay * sum(w**2) added to
    # the loss, on convolution weights only (not BN, not biases). Applied as a param group
    # with torch weight_decay = 2 * weight_decay, which is the gradient of that term.
    weight_decay: float = 1e-4
    alpha: float = 0.9  # RMSprop decay (Lasagne's rho)
    eps: float = 1e-6  # Lasagne's epsilon (it sits inside the sqrt there; outside in torch)
    momentum: float = 0.0


@dataclass
class LossConfig:
    class_weights: str = "median_frequency"  # none | median_frequency (on the train labels)
    final_weight: float = 0.5  # deep supervision: weight of the final output vs the aux heads
    final_only_last_epoch: bool = False  # Log-DenseNet: last epoch trains the final output alone
    aux_weighting: str = "even"  # even (final_weight, rest evenly) | sieve (the Log-DenseNet code)
    aux_targets: str = "nearest"  # nearest labels | average (pooled one-hot soft targets)
    label_smoothing: float = 0.0  # eps: targets (1 - eps) one-hot + eps / num_classes


@dataclass
class DebugConfig:
    nan_at_step: Optional[int] = None  # make the loss NaN at this global step (tests)
    interrupt_at_step: Optional[int] = None  # stop after this step as a SIGINT would (tests)


@dataclass
class CheckpointConfig:
    # Write resumable checkpoints as shard files of at most this many MiB plus a small index
    # (for machines that return files of bounded size); null: one file.
    shard_mb: Optional[float] = None


@dataclass
class TrainConfig:
    name: Optional[str] = None  # run name; default: the recipe file's stem
    base: Optional[str] = None  # recipe this one starts from (resolved at load time)
    seed: int = 0
    device: str = "auto"
    amp: str = "auto"  # auto | off | bf16 | fp16 (GradScaler only for fp16)
    channels_last: Optional[bool] = None  # None (auto): on for CPU training (measured faster there)
    compile: bool = False
    deterministic: bool = False  # torch.use_deterministic_algorithms, no cudnn.benchmark
    threads: Optional[int] = None  # torch.set_num_threads
    # torch.set_flush_denormal(True): subnormal floats computed as 0 (x86 CPUs). Convolutions over
    # subnormal values can run 20-50x slower (pytorch#19651); `segnet bench models --weights
    # RUN/last.pt --flush-denormal` times a step of late weights with and without.
    flush_denormal: bool = False
    run_dir: Optional[str] = None  # default: runs/<name>-<timestamp>
    # Start from these model weights (mmsegmentation's load_from): a checkpoint of the same model
    # and classes, or "bundled" (the shipped model); the recipe's schedule starts afresh.
    load_from: Optional[str] = None
    max_minutes: Optional[float] = None  # wall-clock budget for the whole command
    val_every: int = 1
    # Moving average of the weights, updated after every optimizer step (e.g. 0.999: ~1000 steps):
    # validation scores it and checkpoints ship it as their model. null: off.
    ema_decay: Optional[float] = None
    # The decay after n updates is min(ema_decay, (1 + n) / (10 + n)) (tf.train.ExponentialMovingAverage's
    # num_updates): without it the average keeps ema_decay^n of the first step's weights (0.999: 69 %
    # after 368 steps), which a short run never forgets. false: ema_decay from the first update.
    ema_warmup: bool = True
    progress: Optional[bool] = None  # tqdm bars; None: only when stderr is a terminal
    # BatchNorm in validation, as the test will be scored: running (eval-mode averages) or
    # batch (each val batch's statistics, data.val_batch_size frames; the official test protocol)
    val_bn: str = "running"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: StageConfig = field(default_factory=StageConfig)
    finetune: StageConfig = field(
        default_factory=lambda: StageConfig(lr=1e-4, patience=50, crop_size=None, batch_size=1)
    )
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    debug: DebugConfig = field(default_factory=DebugConfig)

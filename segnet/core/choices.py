"""Every enumerated option segnet accepts, and its exit codes: the config checks, the command-line
flags and the runtimes all read them from here. Torch-free, so configs and ``--help`` load fast."""

# Mixed precision: "auto" = bf16 only where the hardware computes it natively (segnet.core.device).
AMP = ("auto", "off", "bf16", "fp16")
# Runtimes of a trained model (segnet.inference.runtimes; "auto": segnet.deploy.loading decides).
BACKENDS = ("auto", "torch", "openvino", "onnxruntime")
# How a frame of any size is resized for the network (segnet.inference.preprocess.network_scale).
RESCALE = ("auto", "frame", "factor")
# Test-time augmentation: "flip" averages with the mirrored frame.
TTA = ("none", "flip")
# BatchNorm at test time: running averages (eval mode) or each test batch's statistics, as the
# official FC-DenseNet test script evaluated.
BN_MODES = ("running", "batch")
# Evaluation protocols: "paper" = BatchNorm as the model's paper evaluated it.
PROTOCOLS = ("standard", "paper")
EXPORT_FORMATS = ("onnx", "openvino")
EXPORT_SUFFIXES = {"onnx": ".onnx", "openvino": ".xml"}
# Training.
STAGES = ("train", "finetune")  # in the order they run
OPTIMIZERS = ("rmsprop", "adam", "sgd")
# lr after each epoch (segnet.training.optim): x lr_decay, or cosine / poly down to 0 at the stage's last epoch
SCHEDULES = ("exponential", "cosine", "poly")
CLASS_WEIGHTS = ("none", "median_frequency", "median_frequency_global")  # segnet.data.class_weights
AUX_WEIGHTING = ("even", "sieve")  # deep-supervision heads (segnet.models.deep_supervision)
AUX_TARGETS = ("nearest", "average")
SPLITS = ("train", "val", "test")

# Exit codes of the ``segnet`` command.
EXIT_USER_ERROR = 2  # a mistake in the input: one line on stderr
EXIT_INTERRUPTED = 130  # stopped by a signal (128 + SIGINT, as shells report it)

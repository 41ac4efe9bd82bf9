"""Networks: FC-DenseNet, FC-Log-DenseNet, dense backbones; one registry.

``create_model(name, num_classes=11, **options)`` is the single way in; each network registers
where it is built. The first smp model built adds our backbones to segmentation-models-pytorch's
encoder registry: smp (with timm and torchvision's detection ops) takes seconds to import, which a
command that runs an FC-DenseNet (the bundled model) should not pay.
"""

from segnet.models import fc_densenet, fc_log_densenet  # noqa: F401  (they register themselves)
from segnet.models.deep_supervision import deep_supervision_loss, final_logits
from segnet.models.registry import create_model, input_rule, list_models, register_model

__all__ = ["create_model", "deep_supervision_loss", "final_logits", "input_rule", "list_models", "register_model"]

"""Networks: FC-DenseNet, FC-Log-DenseNet, dense backbones; one registry.

``create_model(name, num_classes=11, **options)`` is the single way in; importing this
package also adds our backbones to segmentation-models-pytorch's encoder registry.
"""

from segnet.models import backbones  # noqa: F401  (adds our encoders to smp's registry)
from segnet.models.deep_supervision import deep_supervision_loss
from segnet.models.fc_densenet import FCDenseNet, fc_densenet56, fc_densenet67, fc_densenet103
from segnet.models.fc_log_densenet import FCLogDenseNet, fc_log_densenet103
from segnet.models.registry import create_model, list_models, register_model

register_model(FCDenseNet, "fc_densenet")
register_model(FCLogDenseNet, "fc_log_densenet")
for _builder in (fc_densenet56, fc_densenet67, fc_densenet103, fc_log_densenet103):
    register_model(_builder)

__all__ = ["create_model", "list_models", "register_model", "deep_supervision_loss"]

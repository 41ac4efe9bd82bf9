"""Networks: FC-DenseNet, FC-Log-DenseNet, dense backbones; one registry.

``create_model(name, num_classes=11, **options)`` is the single way in.
"""

from segnet.models import fc_densenet as _fc_densenet
from segnet.models.deep_supervision import deep_supervision_loss
from segnet.models.registry import create_model, list_models, register_model

for _fn in (_fc_densenet.fc_densenet, _fc_densenet.fc_densenet56, _fc_densenet.fc_densenet67, _fc_densenet.fc_densenet103):
    register_model(_fn)

__all__ = ["create_model", "list_models", "register_model", "deep_supervision_loss"]

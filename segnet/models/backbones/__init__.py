"""Classification backbones that are also smp encoders (``smp.Unet(encoder_name="dsnet50")``).

Importing this package adds them to smp's own encoder registry, the one ``get_encoder``
reads, instead of keeping a second registry.
"""

import segmentation_models_pytorch as smp

from segnet.models.backbones.densenet_bc import DenseNetBC, densenet_bc121, densenet_bc_encoders
from segnet.models.backbones.dsnet import DSNet, ds2net50, dsnet50, dsnet_encoders
from segnet.models.backbones.log_densenet_v2 import LogDenseNetV2, log_densenet_v2, log_densenet_v2_encoders

for _entries in (densenet_bc_encoders, log_densenet_v2_encoders, dsnet_encoders):
    smp.encoders.encoders.update(_entries)

__all__ = ["DenseNetBC", "LogDenseNetV2", "DSNet", "densenet_bc121", "log_densenet_v2", "dsnet50", "ds2net50"]

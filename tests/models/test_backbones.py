import pytest
import segmentation_models_pytorch as smp
import torch

from segnet.errors import SegnetError
from segnet.models import create_model
from segnet.models.backbones import densenet_bc121, ds2net50, dsnet50, log_densenet_v2

BACKBONES = {"densenet_bc121": densenet_bc121, "log_densenet_v2": log_densenet_v2, "dsnet50": dsnet50,
             "ds2net50": ds2net50}

NAMES = ["densenet_bc121", "log_densenet_v2", "dsnet50", "ds2net50"]


@pytest.mark.parametrize("name", NAMES)
def test_classification_forward(name):
    model = BACKBONES[name](num_classes=10).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)


@pytest.mark.parametrize("name", NAMES)
def test_smp_unet_uses_the_encoder_by_name(name):
    model = smp.Unet(encoder_name=name, encoder_weights=None, classes=11).eval()
    encoder = model.encoder
    with torch.no_grad():
        features = encoder(torch.randn(2, 3, 96, 128))
        assert [f.shape[1] for f in features] == list(encoder.out_channels)
        assert [f.shape[-1] for f in features] == [128, 64, 32, 16, 8, 4]
        assert model(torch.randn(2, 3, 96, 128)).shape == (2, 11, 96, 128)


def test_densenet_bc121_matches_torchvision_size():
    import torchvision

    ours = sum(p.numel() for p in BACKBONES["densenet_bc121"]().parameters())
    assert ours == sum(p.numel() for p in torchvision.models.densenet121().parameters())


def test_dsnet_adds_under_0_15_percent_to_resnet50():
    import torchvision

    resnet = sum(p.numel() for p in torchvision.models.resnet50().parameters())
    for name in ("dsnet50", "ds2net50"):
        extra = sum(p.numel() for p in BACKBONES[name]().parameters()) - resnet
        assert 0 < extra < 0.0015 * resnet


def test_fpn_and_deeplabv3plus_from_the_registry():
    with torch.no_grad():
        fpn = create_model("smp/fpn/densenet_bc121", 11).eval()
        assert fpn(torch.randn(1, 3, 64, 96)).shape == (1, 11, 64, 96)
        deeplab = create_model("smp/deeplabv3plus/dsnet50", 11).eval()
        assert deeplab.encoder(torch.randn(1, 3, 64, 64))[-1].shape[-1] == 4  # output stride 16
        assert deeplab(torch.randn(1, 3, 64, 96)).shape == (1, 11, 64, 96)


def test_pooling_encoders_refuse_dilation_clearly():
    with pytest.raises(SegnetError, match="does not support dilated mode"):
        create_model("smp/deeplabv3plus/log_densenet_v2", 11)


def test_in_channels_patches_the_stem():
    model = create_model("smp/unet/dsnet50", 3, in_channels=1, encoder_depth=3, decoder_channels=[16, 8, 4]).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, 32, 32)).shape == (1, 3, 32, 32)

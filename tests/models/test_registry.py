import pytest

from segnet.errors import SegnetError
from segnet.models import create_model, list_models

TINY = dict(growth_rate=4, down_layers=[2, 2], bottleneck_layers=2, first_channels=8)


def test_list_models_names_our_networks_and_the_smp_pattern():
    names = list_models()
    for name in ("fc_densenet", "fc_densenet56", "fc_densenet67", "fc_densenet103", "smp/<arch>/<encoder>"):
        assert name in names


def test_unknown_model_lists_the_valid_names():
    with pytest.raises(SegnetError, match="unknown model 'fc_densenet42'.*fc_densenet103"):
        create_model("fc_densenet42")


@pytest.mark.parametrize(
    "options, match",
    [
        (dict(TINY, grwoth_rate=4), "no option 'grwoth_rate'"),
        (dict(TINY, growth_rate=0), "growth_rate=0"),
        (dict(TINY, down_layers=[]), "down_layers"),
        (dict(TINY, down_layers=[2, "x"]), "down_layers"),
        (dict(TINY, dropout=1.5), "dropout=1.5"),
        (dict(TINY, deep_supervision="yes"), "deep_supervision"),
    ],
)
def test_bad_options_are_one_line_segnet_errors(options, match):
    with pytest.raises(SegnetError, match=match) as info:
        create_model("fc_densenet", 11, **options)
    assert "\n" not in str(info.value)


def test_named_models_reject_config_options():
    with pytest.raises(SegnetError, match="no option 'growth_rate'"):
        create_model("fc_densenet56", 11, growth_rate=4)


@pytest.mark.parametrize("name", ["smp/unet", "smp/nonet/resnet34", "smp/unet/nonet"])
def test_bad_smp_names(name):
    with pytest.raises(SegnetError):
        create_model(name, 11)


def test_smp_model_from_scratch():
    model = create_model("smp/unet/resnet18", 5, encoder_depth=3, decoder_channels=[16, 8, 4])
    assert model.segmentation_head[0].out_channels == 5
    with pytest.raises(SegnetError, match="no_such_option"):
        create_model("smp/unet/resnet18", 5, no_such_option=1)


def test_smp_is_imported_by_the_first_smp_model_only():
    """smp (with timm and torchvision's detection ops) takes seconds to import; running an
    FC-DenseNet, the bundled model among them, must not pay for it."""
    import subprocess
    import sys

    script = ("import sys\nimport segnet.api\nfrom segnet.models import create_model\n"
              "create_model('fc_densenet56', 11)\n"
              "print('segmentation_models_pytorch' in sys.modules)\n"
              "create_model('smp/unet/densenet_bc121', 11)\nprint('segmentation_models_pytorch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.stdout.split() == ["False", "True"], done.stdout + done.stderr

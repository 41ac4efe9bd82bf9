import pytest
import torch

from segnet.models import create_model

TINY = dict(growth_rate=4, down_layers=[2, 2], bottleneck_layers=2, first_channels=8)


@pytest.mark.parametrize("name, options",
                         [("fc_densenet", TINY), ("fc_log_densenet", dict(TINY, deep_supervision=False))])
def test_same_outputs_and_gradients_as_the_plain_path(name, options):
    torch.manual_seed(0)
    plain = create_model(name, 11, dropout=0.0, **options).train()
    efficient = create_model(name, 11, dropout=0.0, memory_efficient=True, **options).train()
    efficient.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 33, 40)
    outputs = []
    for model in (plain, efficient):
        out = model(x)
        (out**2).mean().backward()
        outputs.append(out)
    torch.testing.assert_close(outputs[0], outputs[1])
    for (n, p), q in zip(plain.named_parameters(), efficient.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=n)
    # BN running statistics are updated once per forward, not again by the recomputation
    for a, b in zip(plain.buffers(), efficient.buffers()):
        torch.testing.assert_close(a, b)


def test_same_seed_same_dropout():
    options = dict(TINY, dropout=0.2)
    plain = create_model("fc_densenet", 11, **options).train()
    efficient = create_model("fc_densenet", 11, memory_efficient=True, **options).train()
    efficient.load_state_dict(plain.state_dict())
    x = torch.randn(1, 3, 24, 24)
    torch.manual_seed(1)
    a = plain(x)
    torch.manual_seed(1)
    b = efficient(x)
    torch.testing.assert_close(a, b)

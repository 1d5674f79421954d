import pytest
import torch

from milestones import count_parameters, create_model, list_models
from milestones.models import MODELS


def test_mlp_parameter_count_is_the_layer_arithmetic():
    m = create_model("mlp", in_features=784, hidden=(1024, 1024), num_classes=10)
    assert count_parameters(m) == (784 * 1024 + 1024) + (1024 * 1024 + 1024) + (1024 * 10 + 10)
    assert count_parameters(create_model("mlp", in_features=3072)) == 3072 * 1024 + 1024 + 1024 * 1024 + 1024 + 10250


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_forward_and_backward(name):
    torch.manual_seed(0)
    m = create_model(name)
    x = torch.randn(4, 1, 28, 28)
    out = m(x)
    assert out.shape == (4, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in m.parameters())


def test_mlp_overfits_one_batch():
    torch.manual_seed(0)
    m = create_model("mlp", in_features=3 * 8 * 8, hidden=(128,), dropout=0.0, input_dropout=0.0)
    x, y = torch.randn(32, 3, 8, 8), torch.randint(0, 10, (32,))
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(100):
        loss = torch.nn.functional.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.01
    assert (m(x).argmax(1) == y).all()


def test_mlp_rejects_wrong_input_size_clearly():
    with pytest.raises(ValueError, match="expects 784 input features per sample, got 3072"):
        create_model("mlp")(torch.zeros(2, 3, 32, 32))


def test_list_models_rows():
    rows = {r["name"]: r for r in list_models()}
    assert rows["mlp"]["year"] == 1986 and rows["mlp"]["params"] == 1_863_690

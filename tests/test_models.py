import pytest
import torch

from milestones import count_parameters, create_model, list_models
from milestones.models import MODELS


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny batches: see conftest.one_thread


def test_mlp_parameter_count_is_the_layer_arithmetic():
    m = create_model("mlp", in_features=784, hidden=(1024, 1024), num_classes=10)
    assert count_parameters(m) == (784 * 1024 + 1024) + (1024 * 1024 + 1024) + (1024 * 10 + 10)
    assert count_parameters(create_model("mlp", in_features=3072)) == 3072 * 1024 + 1024 + 1024 * 1024 + 1024 + 10250


# One example input (C, H, W) per registered model, for its default arguments.
MNIST, CIFAR = (1, 28, 28), (3, 32, 32)
INPUT_SHAPES = {
    "mlp": MNIST, "lenet5": MNIST, "alexnet": CIFAR,
    "resnet": CIFAR, "resnet20": CIFAR, "resnet32": CIFAR, "resnet44": CIFAR, "resnet56": CIFAR, "resnet110": CIFAR,
    "plain20": CIFAR, "plain32": CIFAR, "plain44": CIFAR, "plain56": CIFAR, "plain110": CIFAR,
    "vit": CIFAR, "vit_tiny": CIFAR, "vit_small": CIFAR,
}


# The sequence models read sequences, not images: tests/test_sequence_eras.py (adding problem) and
# tests/test_translation.py (translators, whose paper-size defaults are far too big for this test) cover them.
SEQUENCE_MODELS = {"lstm", "rnn", "seq2seq", "rnnsearch", "transformer"}


def test_every_model_has_an_example_input_shape():
    assert sorted(INPUT_SHAPES) == sorted(set(MODELS) - SEQUENCE_MODELS)


@pytest.mark.parametrize("name", sorted(INPUT_SHAPES))
def test_every_model_forward_and_backward(name):
    torch.manual_seed(0)
    m = create_model(name)
    x = torch.randn(4, *INPUT_SHAPES[name])
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

"""The image eras: LeNet-5 and AlexNet (CNN), ResNet and its plain twins, ViT."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from milestones import count_parameters, create_model
from milestones.models import check_model_args
from milestones.models.alexnet import AlexNet
from milestones.models.resnet import ResNet, ShortcutA
from milestones.models.vit import Attention, ViT


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny batches: see conftest.one_thread


def two_significant_digits(n: int) -> float:
    return float(f"{n:.2g}")


# --- ResNet (He et al. 2015, arXiv:1512.03385) ----------------------------------------------------------------------

# Table 6: depth -> (exact count with option-A shortcuts, the table's "# params" in millions)
TABLE_6 = {20: (269_722, 0.27), 32: (464_154, 0.46), 44: (658_586, 0.66), 56: (853_018, 0.85), 110: (1_727_962, 1.7)}


@pytest.mark.parametrize("depth", sorted(TABLE_6))
def test_resnet_parameter_counts_match_table_6(depth):
    exact, millions = TABLE_6[depth]
    n = count_parameters(create_model(f"resnet{depth}"))
    assert n == exact
    assert two_significant_digits(n) / 1e6 == pytest.approx(millions)
    assert count_parameters(create_model(f"plain{depth}")) == n  # same layers, parameter-free shortcuts
    assert count_parameters(create_model("resnet", depth=depth)) == n


@pytest.mark.parametrize("depth", [0, 18, 21, 19, 2])
def test_resnet_depth_must_be_6n_plus_2(depth):
    with pytest.raises(ValueError, match=rf"depth must be 6n\+2 .* got {depth}"):
        ResNet(depth)


def test_option_a_shortcut_is_parameter_free_subsampling_and_zero_padding():
    s = ShortcutA(16, 32, stride=2)
    assert sum(p.numel() for p in s.parameters()) == 0 and not list(s.buffers())
    x = torch.randn(2, 16, 8, 8)
    y = s(x)
    assert y.shape == (2, 32, 4, 4)
    # He et al. leave the arrangement open; akamaster's (and so ours): 8 zero channels, the 16 subsampled identity
    # channels, 8 zero channels, so that their published weights load (tests/test_zoo.py)
    assert torch.equal(y[:, 8:24], x[:, :, ::2, ::2])
    assert torch.equal(y[:, :8], torch.zeros(2, 8, 4, 4)) and torch.equal(y[:, 24:], torch.zeros(2, 8, 4, 4))
    assert torch.equal(ShortcutA(16, 16, stride=1)(x), x)


def test_every_block_of_a_resnet_has_a_shortcut_and_no_plain_block_does():
    res, plain = create_model("resnet20"), create_model("plain20")
    assert [b.shortcut is not None for b in res.blocks] == [True] * 9
    assert [b.shortcut is None for b in plain.blocks] == [True] * 9
    # the only parameters are the 19 convolutions, their BNs and the classifier, in both
    assert sum(isinstance(m, nn.Conv2d) for m in res.modules()) == 19


def test_plain_and_residual_twins_differ_in_forward_with_the_same_weights():
    torch.manual_seed(0)
    res, plain = create_model("resnet20").eval(), create_model("plain20").eval()
    plain.load_state_dict(res.state_dict())  # same names, same shapes
    x = torch.randn(2, 3, 32, 32)
    assert not torch.allclose(res(x), plain(x))


def test_zero_init_residual_makes_every_block_its_shortcut_at_the_start():
    # Goyal et al. 2017, Sec. 5.1: gamma = 0 in each branch's last BN, so block(x) = relu(shortcut(x))
    torch.manual_seed(0)
    res = create_model("resnet20", zero_init_residual=True).eval()
    assert count_parameters(res) == TABLE_6[20][0]
    x = torch.relu(torch.randn(2, 16, 32, 32))  # what the stem hands the first block: after a ReLU
    for block in res.blocks:
        assert torch.equal(block(x), torch.relu(block.shortcut(x)))
        x = block(x)
    assert create_model("resnet20").blocks[0].bn2.weight.eq(1).all()  # the paper's default is unchanged
    with pytest.raises(ValueError, match="zero_init_residual needs the shortcuts"):
        ResNet(20, residual=False, zero_init_residual=True)


# --- CNN era (LeCun et al. 1998; Krizhevsky et al. 2012) ------------------------------------------------------------

def test_lenet5_parameter_count_is_the_layer_arithmetic():
    c1, c3, c5 = 6 * 25 + 6, 16 * 6 * 25 + 16, 120 * 16 * 25 + 120  # full C3 table (the paper's has 1,516)
    f6, out = 120 * 84 + 84, 84 * 10 + 10
    assert count_parameters(create_model("lenet5")) == c1 + c3 + c5 + f6 + out == 61_706


def test_alexnet_default_size_and_output_shape():
    m = create_model("alexnet")
    assert count_parameters(m) == 2_343_530
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_lrn_is_the_papers_formula_and_changes_the_output():
    torch.manual_seed(0)
    plain, lrn = AlexNet(lrn=False).eval(), AlexNet(lrn=True).eval()
    lrn.load_state_dict(plain.state_dict())  # LRN has no parameters
    x = torch.randn(2, 3, 32, 32)
    assert not torch.allclose(plain(x), lrn(x))
    # Sec. 3.3: b_i = a_i / (k + alpha * sum_{j=i-2..i+2} a_j^2)^beta, k=2, alpha=1e-4, beta=0.75
    norm = next(m for m in lrn.modules() if isinstance(m, nn.LocalResponseNorm))
    a = torch.randn(1, 8, 3, 3) * 30
    sq = F.pad(a.pow(2), (0, 0, 0, 0, 2, 2))  # zero maps beyond the edges
    window = sum(sq[:, j:j + 8] for j in range(5))
    assert torch.allclose(norm(a), a / (2 + 1e-4 * window).pow(0.75), rtol=1e-5)


def test_alexnet_needs_five_conv_widths():
    with pytest.raises(ValueError, match="channels must hold 5 numbers"):
        AlexNet(channels=(8, 8, 8))


# --- ViT (Dosovitskiy et al. 2020, arXiv:2010.11929) ----------------------------------------------------------------

@pytest.mark.parametrize("name, exact, low, high", [
    ("vit_tiny", 2_250_058, 1.8e6, 2.5e6),
    ("vit_small", 5_958_410, 5.0e6, 7.0e6),
])
def test_vit_preset_sizes(name, exact, low, high):
    n = count_parameters(create_model(name))
    assert n == exact and low <= n <= high


def test_vit_attention_is_scaled_dot_product_attention():
    torch.manual_seed(0)
    attn = Attention(dim=32, heads=4, dropout=0.0)
    x = torch.randn(2, 7, 32)
    q, k, v = (lin(x).view(2, 7, 4, 8).transpose(1, 2) for lin in (attn.q, attn.k, attn.v))
    ref = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(2, 7, 32)
    assert torch.allclose(attn(x), attn.out(ref), atol=1e-6)  # written out (the CPU path)
    attn.fused = True  # the GPU path, forced: the fused function itself, gradients included
    x.requires_grad_(True)
    fused = attn(x)
    (g_fused,) = torch.autograd.grad(fused.sum(), x)
    attn.fused = False
    (g_written,) = torch.autograd.grad(attn(x).sum(), x)
    assert torch.allclose(fused, attn.out(ref), atol=1e-6) and torch.allclose(g_fused, g_written, atol=1e-5)


def test_vit_reads_the_class_token_and_checks_its_input():
    m = ViT(image_size=32, patch_size=4, dim=32, depth=1, heads=2, mlp_dim=64)
    assert m.pos_embed.shape == (1, 1 + 64, 32)  # class token + 8x8 patches of 4x4
    with pytest.raises(ValueError, match="expects 32x32 images, got 28x28"):
        m(torch.zeros(1, 3, 28, 28))
    with pytest.raises(ValueError, match="divisible by heads"):
        ViT(dim=30, heads=4)


# --- builders meet the config checker --------------------------------------------------------------------------------

def test_new_builders_take_typed_config_arguments():
    assert check_model_args("alexnet", {"channels": [8, 8, 8, 8, 8], "lrn": True, "dropout": 0}) == {
        "channels": (8, 8, 8, 8, 8), "lrn": True, "dropout": 0.0}
    assert check_model_args("resnet", {"depth": 56, "residual": False}) == {"depth": 56, "residual": False}
    assert check_model_args("vit_tiny", {"dropout": 0}) == {"dropout": 0.0}
    with pytest.raises(TypeError, match="unknown key 'model.depth' for model 'resnet20'"):
        check_model_args("resnet20", {"depth": 56})
    with pytest.raises(TypeError, match="model.lrn: expected bool"):
        check_model_args("alexnet", {"lrn": "yes"})


# --- one small batch overfit per family -----------------------------------------------------------------------------

@pytest.mark.parametrize("name, args, shape, lr, steps", [
    ("lenet5", {}, (1, 28, 28), 3e-3, 60),
    ("alexnet", {"channels": (8, 16, 16, 16, 16), "hidden": 64, "dropout": 0.0}, (3, 32, 32), 1e-3, 60),
    ("resnet", {"depth": 8}, (3, 32, 32), 1e-2, 60),
    ("resnet", {"depth": 8, "residual": False}, (3, 32, 32), 1e-2, 60),
    ("vit", {"image_size": 32, "patch_size": 4, "num_classes": 10, "dim": 32, "depth": 2, "heads": 2, "mlp_dim": 64,
             "dropout": 0.0}, (3, 32, 32), 3e-3, 100),
])
def test_small_model_of_each_family_overfits_one_batch(name, args, shape, lr, steps):
    torch.manual_seed(0)
    m = create_model(name, **args)
    x, y = torch.randn(16, *shape), torch.randint(0, 10, (16,))
    opt = torch.optim.Adam(m.parameters(), lr=lr)
    for _ in range(steps):
        loss = F.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    m.eval()
    assert (m(x).argmax(1) == y).all()


def test_a_resnet_saved_with_the_old_zero_channel_arrangement_is_refused(tmp_path):
    """Before 0.2.0 option A appended its zero channels; such weights would load and compute something else."""
    from milestones.checkpoint import load_checkpoint, save_checkpoint
    from milestones.config import config_from_dict
    from milestones.errors import CheckpointError

    cfg = config_from_dict({"model": {"name": "resnet20"}, "data": {"name": "cifar10"}})
    state = {"model": create_model("resnet20").state_dict(), "config": cfg.to_dict(), "model_name": "resnet20",
             "model_args": {}, "data_meta": {}}
    save_checkpoint({**state, "milestones_version": "0.1.0"}, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="appended their zero channels"):
        load_checkpoint(tmp_path / "old.pt")
    save_checkpoint({**state, "milestones_version": "0.2.0"}, tmp_path / "new.pt")
    assert load_checkpoint(tmp_path / "new.pt") is not None
    plain = {**state, "model": create_model("plain20").state_dict(), "model_name": "plain20"}
    save_checkpoint({**plain, "milestones_version": "0.1.0"}, tmp_path / "plain.pt")  # no shortcuts: unaffected
    assert load_checkpoint(tmp_path / "plain.pt") is not None

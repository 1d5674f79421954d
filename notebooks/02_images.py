# %% [markdown]
# # 2. Images: MLP -> LeNet and AlexNet -> ResNet -> ViT
#
# Four answers to one question, *how should a network look at pixels?*, each trained and shipped with the package:
#
# - the **multilayer perceptron** (1986) connects every pixel to every unit: nothing tells it that neighbouring
#   pixels belong together;
# - the **convolutional net** (LeNet-5 1998, AlexNet 2012) slides small local filters over the image, the same
#   filter everywhere;
# - **ResNet** (2015) stacks many such layers, each adding a correction to its input (a residual), which lets depth
#   keep paying;
# - the **Vision Transformer** (2020) cuts the image into patches and lets every patch attend to every other, with
#   almost no built-in notion of locality.
#
# Below: what each gets wrong on the test images shipped in the package (1,000 MNIST digits and one CIFAR-10 photo
# per class), the filters each learnt first, and where the ViT looks. No data folder, no training: about 15 seconds
# on a CPU. Generated from `notebooks/02_images.py` by `python scripts/maintenance/build_notebooks.py`.

# %%
import io

# milestones before torch: it sets how torch's threads wait for work (GOMP_SPINCOUNT, read when torch
# loads), which keeps a notebook fast beside another busy process (milestones/__init__.py)
from milestones import load_weights, weights_transforms

import numpy as np
import torch
from IPython.display import Image, Markdown, display
from PIL import Image as PILImage
from torch import nn
from torchvision.utils import make_grid

from milestones.data.images import load_image_data
from milestones.plots import pyplot
from milestones.tour import SAMPLES

torch.manual_seed(0)
plt = pyplot()  # matplotlib, drawing to files: each figure is shown as the PNG it saves


def show(fig) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72, bbox_inches="tight")
    plt.close(fig)
    display(Image(data=buf.getvalue()))


# %% [markdown]
# ## Digits: the MLP against LeNet-5
#
# Both score about 98.6-98.9% on MNIST's 10,000 test digits (`milestones zoo`); here they read the 1,000 test digits
# that ship with the package, where a few digits either way are noise. On digits the MLP is as good as the
# convolutional net: the images are small, centred and clean. The confusion matrix counts, for each true digit
# (row), what the model said (column); everything off the diagonal is a mistake.

# %% tags=["check"]
digits = load_image_data("mnist", root=str(SAMPLES), download=False)  # test_x (1000, 1, 28, 28) uint8
digit_models = {name: load_weights(name) for name in ("mlp_mnist", "lenet5_mnist")}  # eval mode, files checked
digit_preds = {}
for name, model in digit_models.items():
    x = (digits.test_x.float() / 255 - model.meta["mean"][0]) / model.meta["std"][0]  # as the weights were trained
    with torch.no_grad():
        digit_preds[name] = model(x).argmax(-1)  # (1000,)
    wrong = int((digit_preds[name] != digits.test_y).sum())
    print(f"{name:<13} {100 * (1 - wrong / len(digits.test_y)):.1f}% of the 1,000 shipped test digits ({wrong} wrong)")

# %%
def confusion(pred: torch.Tensor, true: torch.Tensor, classes: int = 10) -> torch.Tensor:
    """(classes, classes) counts: row = true class, column = predicted class."""
    return torch.bincount(true * classes + pred, minlength=classes * classes).view(classes, classes)


fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
for ax, (name, pred) in zip(axes, digit_preds.items()):
    m = confusion(pred, digits.test_y)
    off = m.clone().fill_diagonal_(0)  # colour the mistakes; the diagonal would swamp them
    ax.imshow(off, cmap="Reds", vmax=max(int(off.max()), 1) * 1.6)  # the darkest mistake still shows its count
    for i in range(10):
        for j in range(10):
            if m[i, j]:
                ax.text(j, i, int(m[i, j]), ha="center", va="center", fontsize=8,
                        color="grey" if i == j else "black")
    ax.set(title=f"{name}: {int(off.sum())} mistakes", xlabel="predicted", ylabel="true", xticks=range(10),
           yticks=range(10))
show(fig)

# %% [markdown]
# The digits LeNet-5 gets wrong are mostly ones a person would hesitate over too:

# %%
lenet_wrong = (digit_preds["lenet5_mnist"] != digits.test_y).nonzero().flatten()[:10]
fig, axes = plt.subplots(1, len(lenet_wrong), figsize=(1.3 * len(lenet_wrong), 1.8))
for ax, i in zip(np.atleast_1d(axes), lenet_wrong.tolist()):
    ax.imshow(digits.test_x[i, 0], cmap="gray_r")
    ax.set_title(f"{int(digits.test_y[i])} -> {int(digit_preds['lenet5_mnist'][i])}", fontsize=10)
    ax.axis("off")
fig.suptitle("LeNet-5's mistakes (true -> predicted)", y=1.05)
show(fig)

# %% [markdown]
# ## Photos: MLP, AlexNet, ResNet-20 and the ViT
#
# On CIFAR-10's photos the MLP falls far behind (59% against 79% for AlexNet, 87% for ResNet-20 and 78% for the ViT
# on the full test set). Our copy of CIFAR-10 is JPEG-compressed, so every number sits a little below the papers'.
# The `_n5000` models were trained on a tenth of the training photos: the ViT loses more from it than the ResNet
# (the data-hunger claim of notebook 1). Here each model reads the ten shipped photos, one per class; a wrong answer
# is marked with ✗. Ten photos are an illustration, not a measurement.

# %% tags=["check"]
PHOTO_MODELS = ("mlp_cifar10", "alexnet_cifar10", "resnet20_cifar10", "vit_cifar10", "resnet20_cifar10_n5000",
                "vit_cifar10_n5000")
photos = sorted((SAMPLES / "cifar10_images").glob("*.jpg"))  # airplane.jpg ... truck.jpg, 32x32
truth = [p.stem for p in photos]
photo_models = {name: load_weights(name) for name in PHOTO_MODELS}
photo_preds = {}
for name, model in photo_models.items():
    transform = weights_transforms(name)  # file -> (3, 32, 32), normalised as the weights were trained
    x = torch.stack([transform(p) for p in photos])  # (10, 3, 32, 32)
    with torch.no_grad():
        prob = model(x).softmax(-1)  # (10 photos, 10 classes)
    photo_preds[name] = [(model.meta["classes"][int(i)], float(v)) for v, i in zip(*prob.max(-1))]
header = "| photo | " + " | ".join(f"`{n}`" for n in PHOTO_MODELS) + " |\n|---|" + "---|" * len(PHOTO_MODELS) + "\n"
rows = [f"| {t} | " + " | ".join(f"{c} {100 * p:.0f}%" + ("" if c == t else " ✗") for c, p in
                                  (photo_preds[n][k] for n in PHOTO_MODELS)) + " |" for k, t in enumerate(truth)]
right = "| right | " + " | ".join(f"{sum(c == t for (c, _), t in zip(photo_preds[n], truth))}/10" for n in PHOTO_MODELS)
display(Markdown(header + "\n".join(rows) + "\n" + right + " |"))

# %% [markdown]
# The photos themselves, with the answers of the models that got them wrong:

# %%
fig, axes = plt.subplots(1, len(photos), figsize=(1.6 * len(photos), 3.2))
for ax, path, t, k in zip(axes, photos, truth, range(len(photos))):
    ax.imshow(PILImage.open(path), interpolation="nearest")
    wrong = [f"{n.split('_')[0]}{'-5k' if 'n5000' in n else ''}: {photo_preds[n][k][0]}" for n in PHOTO_MODELS
             if photo_preds[n][k][0] != t]
    ax.set_title(t, fontsize=10)
    ax.text(0.5, -0.08, "\n".join(wrong) or "all right", transform=ax.transAxes, ha="center", va="top", fontsize=7,
            color="firebrick" if wrong else "green")
    ax.axis("off")
show(fig)

# %% [markdown]
# ResNet's own claim, that residual connections let depth keep paying where plain nets get worse (He et al.'s
# Fig. 6), needs four nets trained on one schedule: plain-20 and -56, ResNet-20 and -56. Notebook 1 shows which of
# them are in the zoo and draws their curves once all are.
#
# ## What the first layer learnt
#
# The first layer is where each architecture meets the pixels. The MLP's first units each weigh all 784 pixels of a
# digit (shown as 28x28 images: faint strokes in noise); LeNet-5's six 5x5 filters are local stroke detectors, the
# same at every position; the photo nets' small filters respond mostly to colour contrasts (Krizhevsky et al.'s
# 11x11 filters, on 224-pixel images, show clean edges and colour blobs: their Fig. 3). The ViT's first layer is one
# linear map applied to each 4x4 patch: the ViT paper's Fig. 7 (left) shows the principal components of that map as
# smooth, low-frequency bases, like a convolution's; ours, learnt from 4x4 patches of 50,000 small images, are
# noisier.

# %%
def first_layer(model: nn.Module) -> torch.Tensor:
    return next(m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))).weight.detach()


def grid(w: torch.Tensor, nrow: int) -> np.ndarray:
    """Filters (N, C, H, W) side by side, each scaled to [0, 1] on its own, as an (H', W', C) image."""
    g = make_grid(w, nrow=nrow, normalize=True, scale_each=True, padding=1, pad_value=1.0)  # (3, H', W')
    return g.permute(1, 2, 0).numpy()


vit_patch = first_layer(photo_models["vit_cifar10"]).flatten(1)  # (192, 3 * 4 * 4): one row per embedding unit
_, _, components = torch.linalg.svd(vit_patch - vit_patch.mean(0), full_matrices=False)  # (48, 48), rows by variance
mlp_units, alex = first_layer(digit_models["mlp_mnist"]), first_layer(photo_models["alexnet_cifar10"])
panels = {  # title: (filters (N, C, H, W), filters per row)
    f"MLP (mlp_mnist): 16 of {len(mlp_units):,} units": (mlp_units[:16].view(16, 1, 28, 28), 4),
    "LeNet-5: its 6 filters, 5x5": (first_layer(digit_models["lenet5_mnist"]), 3),
    f"AlexNet (CIFAR-10): its {len(alex)} filters, {alex.shape[-1]}x{alex.shape[-1]} RGB": (alex, 6),
    "ResNet-20: its 16 filters, 3x3 RGB": (first_layer(photo_models["resnet20_cifar10"]), 4),
    "ViT: the patch embedding's first 28\nprincipal components, 4x4 RGB": (components[:28].view(28, 3, 4, 4), 7),
}
fig, axes = plt.subplots(1, len(panels), figsize=(17, 3.4))
for ax, (title, (w, nrow)) in zip(axes, panels.items()):
    ax.imshow(grid(w, nrow), interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
show(fig)

# %% [markdown]
# ## Where the ViT looks
#
# The ViT reads a 32x32 photo as 64 patches of 4x4 pixels plus a class token, whose final state is classified. In
# every layer each token takes a weighted average of all tokens (softmax(q k^T / sqrt(d)), Vaswani et al. 2017,
# Eq. 1). We record those weights with a hook on each attention module and show two views:
#
# - **the last layer's class-token attention**: which patches the class token reads just before the classifier
#   (averaged over the 3 heads);
# - **attention rollout** (Abnar and Zuidema 2020, arXiv:2005.00928): the residual connection is counted as half of
#   each layer's mixing (A -> (A + I) / 2, rows summing to one), and the layers' matrices are multiplied, so that
#   the class token's row says how much of each input patch has flowed into it through all six layers.

# %%
vit = photo_models["vit_cifar10"]
attention = []  # one (B, heads, N, N) tensor per block, N = 1 + 64 tokens


def record_attention(module, inputs, output):
    x = inputs[0]  # the block's normalised tokens (B, N, D), as Attention.forward sees them
    B, N, _ = x.shape
    q = module.q(x).view(B, N, module.heads, module.head_dim).transpose(1, 2)  # (B, heads, N, head_dim)
    k = module.k(x).view(B, N, module.heads, module.head_dim).transpose(1, 2)
    attention.append((q @ k.transpose(-2, -1) / module.head_dim ** 0.5).softmax(-1))  # (B, heads, N, N)


hooks = [block.attn.register_forward_hook(record_attention) for block in vit.blocks]
x = torch.stack([weights_transforms("vit_cifar10")(p) for p in photos])  # (10, 3, 32, 32)
with torch.no_grad():
    vit(x)
for h in hooks:
    h.remove()

side = 32 // 4  # the 8x8 grid of patches
last_cls = attention[-1].mean(1)[:, 0, 1:].view(-1, side, side)  # (B, 8, 8): class token -> patches, last layer
rollout = torch.eye(attention[0].shape[-1]).expand_as(attention[0][:, 0])  # (B, N, N)
for a in attention:  # from the first layer up
    a = a.mean(1)  # heads averaged: (B, N, N)
    a = (a + torch.eye(a.shape[-1])) / 2  # the residual path, rows still sum to 1
    rollout = a @ rollout
rolled = rollout[:, 0, 1:].view(-1, side, side)  # (B, 8, 8): how much of each patch reaches the class token

fig, axes = plt.subplots(3, len(photos), figsize=(1.6 * len(photos), 5.2))
for k, path in enumerate(photos):
    picture = np.asarray(PILImage.open(path))
    axes[0, k].imshow(picture, interpolation="nearest")
    axes[0, k].set_title(f"{truth[k]}\nViT: {photo_preds['vit_cifar10'][k][0]}", fontsize=8)
    for row, heat in ((1, last_cls[k]), (2, rolled[k])):
        axes[row, k].imshow(picture, interpolation="nearest")
        axes[row, k].imshow(heat.numpy(), cmap="inferno", alpha=0.6, extent=(-0.5, 31.5, 31.5, -0.5),
                            interpolation="nearest")
for ax in axes.flat:
    ax.axis("off")
axes[1, 0].text(-4, 16, "last layer,\nclass token", ha="right", va="center", fontsize=8)
axes[2, 0].text(-4, 16, "rollout,\nall layers", ha="right", va="center", fontsize=8)
show(fig)

# %% [markdown]
# The last layer's class token reads a few patches, some on the object and some not; the rollout is more diffuse,
# because the residual paths carry every patch's own content up through the layers. Attention maps are a hint of what a
# model uses, not a proof (Jain and Wallace 2019, "Attention is not Explanation").

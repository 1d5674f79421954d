# %% [markdown]
# # milestones from Python: trained weights, models, the trainer, checkpoints, translation, attention
#
# A percent-format notebook: open it in Jupyter (jupytext), VS Code or PyCharm as a notebook, or run it as a
# script (`python notebooks/quickstart.py`; `tests/test_compare.py` runs it headless). It needs no data folder:
# it starts from the weights shipped in the package (`milestones zoo`), then trains on the small samples shipped
# beside them (`milestones/data/samples/`), for seconds. Set `NOTEBOOK_OUT` to keep the runs somewhere else.

# %%
import os
from pathlib import Path

import torch

import milestones
from milestones import create_model, fit, load_checkpoint
from milestones.config import config_from_dict
from milestones.errors import MilestonesError
from milestones.pretrained import get_weights
from milestones.tour import SAMPLES, describe
from milestones.translate import load_translator_weights, plot_attention, translate
from milestones.predict import image_model, predict

OUT = Path(os.environ.get("NOTEBOOK_OUT", "runs/notebook"))
OUT.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)

# %% [markdown]
# ## 0. Start from trained weights
# Every era's best model ships with the package, with the number it scores, how it was trained and what its input
# expects (`milestones zoo`; `model.meta` holds class names, normalisation, vocabularies). As in torchvision and
# timm: `create_model(name, weights="DEFAULT")` or `load_weights(entry)`.

# %%
lenet = create_model("lenet5", weights="DEFAULT")  # eval mode, weights checked against the registry's SHA-256
print(describe(lenet.weights))
from milestones.data.images import load_image_data  # noqa: E402

digits = load_image_data("mnist", root=str(SAMPLES), download=False)
x = (digits.test_x[:8].float() / 255 - lenet.meta["mean"][0]) / lenet.meta["std"][0]  # (8, 1, 28, 28)
with torch.no_grad():
    print("digits", digits.test_y[:8].tolist(), "-> predicted", lenet(x).argmax(-1).tolist())

# %%
photos = sorted((SAMPLES / "cifar10_images").glob("*.jpg"))  # one CIFAR-10 test photo per class
preds, _ = predict(*image_model(get_weights("resnet20_cifar10")), [str(p) for p in photos], k=2)
for p in preds:  # what `milestones predict --weights resnet20_cifar10 FILE...` prints
    print(f"{Path(p.path).stem:>10}: " + ", ".join(f"{c} {100 * v:.0f}%" for c, v in p.top))

# %%
translator, vocab = load_translator_weights("transformer_enja")
seed = translate(translator, vocab, ["彼は背が高い。"])[0]
print("彼は背が高い。 ->", seed.text)
try:  # matplotlib is an optional extra; a CJK font (e.g. fonts-noto-cjk) draws the Japanese labels
    legible = plot_attention(seed, OUT / "attention_shipped.png", title=seed.text)
    print("attention map:", OUT / "attention_shipped.png",
          "" if legible else "(no CJK font installed: Japanese shows as boxes; e.g. apt install fonts-noto-cjk)")
except MilestonesError as e:
    print(e)

# %% [markdown]
# ## 1. Build any era's model by name
# Models are plain `nn.Module`s with the paper's values as keyword defaults: `create_model("resnet56")` is
# `ResNet(depth=56)`. `milestones.list_models()` gives the whole table (era, year, paper, parameters).

# %%
resnet56 = create_model("resnet56")
print(f"ResNet-56: {sum(p.numel() for p in resnet56.parameters()):,} parameters (Table 6: 0.85M)")
print(resnet56(torch.randn(2, 3, 32, 32)).shape)  # (B, num_classes)
for row in milestones.list_models()[:3]:
    print(row["name"], row["era"], row["year"], f"{row['params']:,}")

# %% [markdown]
# ## 2. Train with the same trainer the CLI uses
# A config is a dict (or a YAML file) loaded into typed dataclasses; `fit` writes the run folder: config.yaml,
# metrics.jsonl, checkpoint.pt and results.json.

# %%
cfg = config_from_dict({
    "name": "lenet5_digits", "output_dir": str(OUT), "seed": 0,
    "model": {"name": "lenet5"},
    "data": {"name": "mnist", "root": str(SAMPLES), "download": False},
    "optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4},
    "schedule": {"name": "cosine"},
    "trainer": {"epochs": 2, "batch_size": 128, "progress": False},
})
results = fit(cfg, overwrite=True)
print(f"LeNet-5 on 5,000 digits: test accuracy {100 * results['test_acc']:.2f}% in {results['train_seconds']:.0f} s")

# %% [markdown]
# ## 3. Load the checkpoint and classify an image

# %%
model = load_checkpoint(cfg.run_dir / "checkpoint.pt")  # rebuilt from the config saved inside, in eval mode
data = load_image_data("mnist", root=str(SAMPLES), download=False)
image, label = data.test_x[:1], int(data.test_y[0])  # (1, 1, 28, 28) uint8
x = (image.float() / 255 - data.mean[0]) / data.std[0]  # the loader's normalisation
with torch.no_grad():
    probs = model(x).softmax(-1)[0]
print(f"true label {label}, predicted {int(probs.argmax())} with p = {float(probs.max()):.3f}")

# %% [markdown]
# ## 4. Train a small Transformer on Japanese-English pairs and translate the running example
# 「彼は背が高い。」 should become "he is tall ." Typed Japanese needs no spaces: the model reads characters.

# %%
mt = config_from_dict({
    "name": "transformer_enja", "output_dir": str(OUT), "seed": 0, "task": "seq2seq",
    "model": {"name": "transformer", "d_model": 128, "heads": 4, "d_ff": 256, "encoder_layers": 2,
              "decoder_layers": 2, "dropout": 0.1},
    "data": {"name": "small_parallel_enja", "root": str(SAMPLES), "min_freq": 2},
    "optim": {"name": "adamw", "lr": 2e-3, "betas": [0.9, 0.98], "weight_decay": 0.0},
    "schedule": {"name": "cosine", "warmup_epochs": 0.5},
    "trainer": {"epochs": int(os.environ.get("NOTEBOOK_MT_EPOCHS", "3")), "batch_size": 64, "precision": "bf16",
                "label_smoothing": 0.1, "grad_clip": 1.0, "progress": False},
})
mt_results = fit(mt, overwrite=True)
print(f"test BLEU {mt_results['test_bleu']:.2f} after {mt_results['epochs']} short epochs on 5,000 pairs")

from milestones.translate import load_translator  # noqa: E402

translator, meta = load_translator(mt.run_dir / "checkpoint.pt")
(result,) = translate(translator, meta, ["彼は背が高い。"], beam=4)
print("彼は背が高い。 ->", result.text)

# %% [markdown]
# ## 5. Draw the attention map (source characters across, output words down)

# %%
png = OUT / "attention.png"
plot_attention(result, png, title="彼は背が高い。")
print("attention map:", png, result.attention.shape)  # (output tokens, source tokens)

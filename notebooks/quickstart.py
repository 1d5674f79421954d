# %% [markdown]
# # milestones from Python: models, the trainer, checkpoints, translation, attention
#
# A percent-format notebook: open it in Jupyter (jupytext), VS Code or PyCharm as a notebook, or run it as a
# script (`python notebooks/quickstart.py`; `tests/test_notebook.py` runs it headless). It needs no data folder:
# it trains on the small samples shipped inside the package (`milestones/data/samples/`), for seconds.
# Set `OUT` to keep the runs somewhere else.

# %%
import os
from pathlib import Path

import torch

import milestones
from milestones import create_model, fit, load_checkpoint
from milestones.config import config_from_dict
from milestones.tour import SAMPLES

OUT = Path(os.environ.get("NOTEBOOK_OUT", "runs/notebook"))
torch.manual_seed(0)

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
from milestones.data.images import load_image_data  # noqa: E402

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

from milestones.translate import load_translator, plot_attention, translate  # noqa: E402

translator, meta = load_translator(mt.run_dir / "checkpoint.pt")
(result,) = translate(translator, meta, ["彼は背が高い。"], beam=4)
print("彼は背が高い。 ->", result.text)

# %% [markdown]
# ## 5. Draw the attention map (source characters across, output words down)

# %%
png = OUT / "attention.png"
plot_attention(result, png, title="彼は背が高い。")  # needs matplotlib: pip install 'milestones[plot]'
print("attention map:", png, result.attention.shape)  # (output tokens, source tokens)

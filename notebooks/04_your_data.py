# %% [markdown]
# # 4. Your own data: fine-tune a shipped model on a folder of images, predict, export
#
# The usual way to use a trained network on new classes: keep everything it has learnt but its last layer, give it a
# fresh last layer for your classes, and train briefly on your images (as timm's `create_model(..., pretrained=True,
# num_classes=N)` and torchvision's fine-tuning tutorial do). Here the starting point is the shipped ResNet-20,
# trained on CIFAR-10's photos, and "your data" is a folder of handwritten digits made from the MNIST sample that
# ships with the package: a new kind of image and new class names. The same steps work on a folder of your photos:
#
#     milestones train finetune_folder --set data.path=DIR     # DIR/<class>/*.jpg, any size
#     milestones predict --checkpoint runs/finetune_folder/checkpoint.pt photo.jpg
#
# In about half a minute on a CPU. Generated from `notebooks/04_your_data.py` by
# `python scripts/maintenance/build_notebooks.py`; the fine-tuning's numbers may differ in their last digits from
# one machine to another.

# %%
import importlib.util
import io
import os
import tempfile
from pathlib import Path

# milestones before torch: it sets how torch's threads wait for work (GOMP_SPINCOUNT, read when torch
# loads), which keeps a notebook fast beside another busy process (milestones/__init__.py)
from milestones import create_model, fit, load_config

import torch
from IPython.display import Image as PNG, display
from PIL import Image

from milestones.data.images import load_image_data
from milestones.plots import pyplot
from milestones.predict import NO_ONNX, checkpoint_image_model, onnx_file, predict
from milestones.tour import SAMPLES

torch.manual_seed(0)
plt = pyplot()  # matplotlib, drawing to files: each figure is shown as the PNG it saves
os.chdir(tempfile.mkdtemp(prefix="milestones_your_data_"))  # a scratch folder for the images, the run, the export

# %% [markdown]
# ## A folder of images, one subfolder per class
#
# Three classes that look alike, 60 images each, written as PNG files the way a photo collection would be:
# `digits/three/0.png`, `digits/five/0.png`, ... The class names are the folder names.

# %% tags=["check"]
CLASSES = {"three": 3, "five": 5, "eight": 8}
mnist = load_image_data("mnist", root=str(SAMPLES), download=False)  # 5,000 training and 1,000 test digits, shipped
folder = Path("digits")
for name, digit in CLASSES.items():
    (folder / name).mkdir(parents=True)
    for i, k in enumerate((mnist.train_y == digit).nonzero().flatten()[:60].tolist()):
        Image.fromarray(mnist.train_x[k, 0].numpy()).save(folder / name / f"{i}.png")  # 28x28 grey
print({name: len(list((folder / name).iterdir())) for name in CLASSES}, "images in", folder)

# %% [markdown]
# ## Start from shipped weights, with a new head
#
# `create_model(name, weights=..., num_classes=N)` loads every tensor of the shipped model but its classifier, which
# starts fresh for the N new classes (one line on stderr says so). `fit` below does this itself, from the config's
# `model.weights`; the line here only shows what it builds.

# %%
model = create_model("resnet20", weights="resnet20_cifar10", num_classes=len(CLASSES))
kept = sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in model.fc.parameters())
print(model.fc, f"<- fresh; {kept:,} weights from resnet20_cifar10")

# %% [markdown]
# ## Fine-tune with the shipped recipe
#
# `configs/finetune_folder.yaml` is that recipe: ResNet-20 from `resnet20_cifar10`, SGD with momentum at a tenth of
# the from-scratch learning rate, images seen as the weights were trained (32x32, CIFAR-10's normalisation, random
# crops and flips), one image in ten held out for evaluation. `load_config` reads it with `--set`-style overrides:
# here five epochs, so that it takes seconds, in batches of 16 and at 5 times the recipe's learning rate (digits are
# further from CIFAR-10's photos than most photo collections, and 180 images make few steps). `fit` is the trainer
# every command uses; it writes the run folder (config, metrics.jsonl, checkpoint.pt, results.json).

# %%
cfg = load_config("finetune_folder", [f"data.path={folder}", "output_dir=runs", "data.workers=0", "trainer.epochs=5",
                                      "trainer.batch_size=16", "optim.lr=0.05", "trainer.progress=false"])
results = fit(cfg)
print(f"{100 * results['test_acc']:.0f}% of the held-out tenth of the folder after {cfg.trainer.epochs} epochs")

# %% [markdown]
# ## Predict, with your class names
#
# A tenth of 180 images is too few to measure much. The shipped MNIST *test* digits, never in the folder, say more.
# The checkpoint carries the class names and the input's normalisation, so it classifies image files on its own, as
# `milestones predict --checkpoint` does (the figure: twelve of them with the model's answer, wrong ones in red):

# %%
model, meta = checkpoint_image_model(cfg.run_dir / "checkpoint.pt")  # eval mode; meta: classes, image_shape, ...
print("classes:", meta["classes"])
tests = Path("test_digits")
tests.mkdir()
paths, truth = [], []
for name, digit in CLASSES.items():
    for k in (mnist.test_y == digit).nonzero().flatten().tolist():
        paths.append(tests / f"{name}_{k}.png")
        truth.append(name)
        Image.fromarray(mnist.test_x[k, 0].numpy()).save(paths[-1])
preds, errors = predict(model, meta, [str(p) for p in paths], k=2)
for p in preds[::40]:  # a few of them
    print(f"{Path(p.path).stem:>10}: " + ", ".join(f"{c} {100 * v:.0f}%" for c, v in p.top))
right = sum(p.top[0][0] == t for p, t in zip(preds, truth))
print(f"\n{right} of {len(preds)} test digits right ({100 * right / len(preds):.0f}%)")

fig, axes = plt.subplots(1, 12, figsize=(13, 1.8))
for ax, k in zip(axes, range(0, len(preds), len(preds) // 12)):
    said = preds[k].top[0][0]
    ax.imshow(Image.open(paths[k]), cmap="gray_r")
    ax.set_title(said, fontsize=10, color="black" if said == truth[k] else "firebrick")
    ax.axis("off")
buf = io.BytesIO()
fig.savefig(buf, format="png", dpi=72, bbox_inches="tight")
plt.close(fig)
display(PNG(data=buf.getvalue()))

# %% [markdown]
# ## Export
#
# For shipped weights, `milestones export --weights resnet20_cifar10 --format onnx --output resnet20.onnx` writes
# an ONNX file that runs without PyTorch (onnxruntime, a browser, a phone). A fine-tuned model exports through the
# same function, `milestones.predict.onnx_file`: input `images` (B, 3, 32, 32) normalised as `meta` says, output
# `logits` (B, classes); the class names stay in `meta`. It needs the optional `onnx` and `onnxscript` packages
# (`pip install 'milestones[export]'`).

# %%
if importlib.util.find_spec("onnxscript") is None:
    print(NO_ONNX)
else:
    onnx_path = onnx_file(model, meta["image_shape"], "digits_resnet20.onnx")
    print(f"{onnx_path.name}: {onnx_path.stat().st_size / 1e6:.2f} MB")
    if importlib.util.find_spec("onnxruntime") is not None:  # the exported file gives the model's own answers
        import onnxruntime

        from milestones import ImageTransform

        x = torch.stack([ImageTransform.from_meta(meta)(p) for p in paths[:8]])  # (8, 3, 32, 32)
        session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        logits = session.run(["logits"], {"images": x.numpy()})[0]
        with torch.no_grad():
            same = (logits.argmax(-1) == model(x).argmax(-1).numpy()).all()
        print("onnxruntime's classes for 8 test digits:", [meta["classes"][i] for i in logits.argmax(-1)],
              "(the same as PyTorch's)" if same else "(NOT the same as PyTorch's)")

# %% [markdown]
# ## Where next
#
# - `--set trainer.freeze=backbone` trains the new head alone: faster, and safer with a handful of images per class
#   of the kind the model was trained on (here, where digits are far from photos, it learns much less in 5 epochs).
# - `model.weights: lenet5_mnist` (or any entry of `milestones zoo`) starts from another model; your own sentence
#   pairs fine-tune a translator (`data.name: pairs`): docs/training.md, "Your own data".
# - Measured: on 1,000 Fashion-MNIST images, LeNet-5 fine-tuned from `lenet5_mnist` reached 73.22% against 70.41%
#   from scratch (RESULTS.md).

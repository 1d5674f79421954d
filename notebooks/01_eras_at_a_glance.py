# %% [markdown]
# # 1. The eras at a glance: every shipped model, the story's claims and its figures
#
# Deep learning's big jumps, each as the trained model that ships inside `milestones` (`milestones zoo` lists
# them): the MLP (1986), the LSTM (1997), LeNet-5 (1998), AlexNet (2012), the LSTM sequence-to-sequence model
# (2014), ResNet and RNNsearch (2015), the Transformer (2017) and the Vision Transformer (2020). This notebook loads
# every one of them, lets each make one prediction, then judges the story's claims on them and draws the story's
# figures. It needs no data folder and no network: the weights and a few test samples ship in the package. It runs
# in well under a minute on a laptop CPU.
#
# *This notebook is generated*: its source is `notebooks/01_eras_at_a_glance.py` (percent format: VS Code, PyCharm
# and jupytext open it as a notebook); `python scripts/maintenance/build_notebooks.py` re-executes it and writes
# this `.ipynb`.
#
# Next: [images](02_images.ipynb), [sequences](03_sequences.ipynb), [your own data](04_your_data.ipynb).

# %%
import tempfile
from pathlib import Path

# milestones before torch: it sets how torch's threads wait for work (GOMP_SPINCOUNT, read when torch
# loads), which keeps a notebook fast beside another busy process (milestones/__init__.py)
from milestones import create_model, list_models, list_weights

import torch
from IPython.display import Image, Markdown, display

from milestones.data.images import load_image_data
from milestones.data.synthetic import ADDING_CRITERION, adding_problem
from milestones.modelinfo import model_info
from milestones.predict import predict
from milestones.story import FIG6, judge, story_figures, story_markdown
from milestones.tour import EXAMPLE, SAMPLES
from milestones.translate import translate

torch.manual_seed(0)
FIGURES = Path(tempfile.mkdtemp(prefix="milestones_story_"))  # the story's PNG files, shown below

# %% [markdown]
# ## Every shipped model, one prediction each
#
# `create_model(model, weights=entry)` builds the architecture an entry was trained as, checks the file against the
# registry's SHA-256 and loads it, in eval mode; `model.meta` carries what the input expects (class names,
# normalisation, a translator's vocabularies). Each model gets the input of its own task: a test digit from the
# shipped MNIST sample, a CIFAR-10 test photo (`cat.jpg`), a freshly drawn adding-problem sequence (T = 100), or
# the running example 「彼は背が高い。」 ("he is tall .").

# %% tags=["check"]
digits = load_image_data("mnist", root=str(SAMPLES), download=False)  # 1,000 MNIST test digits, shipped
photo = SAMPLES / "cifar10_images" / "cat.jpg"  # one CIFAR-10 test photo per class, shipped
sequence = adding_problem(1, 100, torch.Generator().manual_seed(0))  # (x (1, T, 2), lengths (1,), target (1,))


def one_prediction(model, entry):
    """What the entry's model makes of one input of its task, as a short line."""
    shape = entry.extra.get("input", {}).get("image_shape")
    if "src_vocab" in model.meta:  # a translator
        return f"{EXAMPLE} -> {translate(model, model.meta, EXAMPLE)[0].text}"
    if entry.data == "adding":
        x, lengths, target = sequence
        with torch.no_grad():
            guess = float(model(x, lengths)[0])
        solved = "solved" if abs(guess - float(target[0])) < ADDING_CRITERION else "not solved"
        return f"adding problem, target {float(target[0]):.3f} -> {guess:.3f} ({solved})"
    if shape[0] == 1:  # digits: the first shipped test digit, normalised as the weights were trained
        x = (digits.test_x[:1].float() / 255 - model.meta["mean"][0]) / model.meta["std"][0]  # (1, 1, 28, 28)
        with torch.no_grad():
            p = model(x).softmax(-1)[0]
        said = model.meta["classes"][int(p.argmax())]
        return f"a handwritten {int(digits.test_y[0])} -> {said} ({100 * float(p.max()):.0f}%)"
    (pred,), _ = predict(model, {**model.meta, "image_shape": shape}, [str(photo)], k=1)
    name, p = pred.top[0]
    return f"a photo of a cat -> {name} ({100 * p:.0f}%)"


shipped = list_weights(shipped_only=True)
for entry in shipped:
    model = create_model(entry.model, weights=entry.name)
    info = model_info(entry.model)
    params = sum(p.numel() for p in model.parameters())
    print(f"{entry.name:<23} {info.era:<22} {info.year}  {params:>10,} params  {one_prediction(model, entry)}")

# %% [markdown]
# One sample is an anecdote, not a measurement: the registry records each entry's number on the whole test set
# (`milestones zoo`, measured from the shipped file by `milestones eval --weights NAME`), and the next sections
# read them. The tanh RNN's failure on the adding problem is no accident, though: it is the point of 1997.
#
# Every era's architecture can also be built by name, untrained, with the paper's values as keyword defaults:
# `create_model("resnet56")` is He et al.'s ResNet-56. `list_models()` gives the whole table.

# %% tags=["check"]
resnet56 = create_model("resnet56")
print(f"ResNet-56: {sum(p.numel() for p in resnet56.parameters()):,} parameters (He et al. Table 6: 0.85M)")
print("its output for 2 random images:", tuple(resnet56(torch.randn(2, 3, 32, 32)).shape), "(B, classes)\n")
rows = list_models()
display(Markdown("| model | era | year | parameters | shipped weights |\n|---|---|---|---:|---|\n" + "\n".join(
    f"| `{r['name']}` | {r['era']} | {r['year']} | {r['params']:,} | {', '.join(r['weights']) or '-'} |"
    for r in rows)))

# %% [markdown]
# ## The story's claims, judged on the shipped models
#
# Each era's claim is a rule over the shipped models' numbers (`milestones story` prints the same table). What needs
# no data folder is measured here and now: the adding problem on freshly drawn sequences and the translators' BLEU
# on the 500 shipped test pairs ("live"); the image models' numbers are the registry's, measured from the same files
# on the full test sets ("recorded"). A claim whose models are not shipped yet says so instead of guessing.

# %% tags=["check"]
judged = judge()
display(Markdown(story_markdown(judged)))

# %% [markdown]
# ## The story's figures
#
# Drawn from the shipped models alone (`milestones.story.story_figures`; `milestones story --plots DIR` writes the
# same files): accuracy by era beside the papers' numbers, ViT against ResNet-20 as the training set shrinks, and
# the translators' BLEU by sentence length.

# %%
written = story_figures(judged, FIGURES)
for png in written:
    display(Image(filename=str(png)))

# %% [markdown]
# ### He et al.'s Fig. 6: plain against residual nets
#
# The degradation problem (a deeper plain net trains *worse*; a residual one does not) needs four CIFAR-10 nets
# trained on one schedule. Those still being trained are not in the zoo yet; once they are, this notebook draws the
# figure (regenerate it with `python scripts/maintenance/build_notebooks.py`).

# %% tags=["check"]
names = {e.name for e in shipped}
for kind, nets in FIG6.items():
    for label, name in nets.items():
        print(f"{kind:>8} {label:<9} {name:<17}", "shipped" if name in names else "not in the zoo yet (training)")
if FIGURES / "degradation.png" in written:
    print("\nFig. 6 from the shipped nets: degradation.png above")
else:
    print("\nFig. 6 is drawn from the zoo once two of these nets are in it, and in full with all four; "
          "`milestones compare --suite fig6` trains them yourself (hours on a CPU, docs/comparing.md)")

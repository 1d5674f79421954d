"""milestones: the history of deep learning as small, faithful PyTorch models and one shared trainer.

    from milestones import create_model, list_models, load_checkpoint, load_config, load_weights
    model = create_model("mlp", in_features=3072)                 # a fresh model, the paper's defaults
    resnet = create_model("resnet20", weights="DEFAULT")          # trained weights shipped in the package
    list_models("resnet*", pretrained=True)                       # with their entries (`milestones zoo`)
"""

import os

# Two trainings on the same CPU cores were each ~16x slower than alone, not ~2x: torch's OpenMP (libgomp) threads
# spin up to 300,000 rounds at every barrier, burning the cores the other process's threads are waiting for.
# Spinning 1,000 rounds keeps a run alone as fast (within noise) and makes two at once 2.5x slower each
# (scripts/bench/bench_threads.py; RESULTS.md, "Two runs on the same cores"). libgomp reads the setting when torch loads
# it, so it is made here, before anything imports torch (it has no effect if torch was imported first); a value
# the user has set wins. trainer.threads=1 is the other remedy for small models (no barriers at all).
os.environ.setdefault("GOMP_SPINCOUNT", "1000")

from .checkpoint import load_checkpoint, read_checkpoint  # noqa: E402
from .config import Config  # noqa: E402
from .configfile import load_config  # noqa: E402
from .models import count_parameters, create_model, list_models, load_weights  # noqa: E402
from .pretrained import get_weights, list_weights  # noqa: E402
from .train import evaluate, fit, train_one_epoch  # noqa: E402
from .version import __version__  # noqa: E402

__all__ = [
    "Config", "count_parameters", "create_model", "evaluate", "fit", "get_weights", "list_models", "list_weights",
    "load_checkpoint", "load_config", "load_weights", "read_checkpoint", "train_one_epoch", "__version__",
]

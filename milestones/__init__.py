"""milestones: the history of deep learning as small, faithful PyTorch models and one shared trainer.

    from milestones import create_model, list_models, load_checkpoint, load_config, load_weights
    model = create_model("mlp", in_features=3072)                 # a fresh model, the paper's defaults
    resnet = create_model("resnet20", weights="DEFAULT")          # trained weights shipped in the package
    list_models("resnet*", pretrained=True)                       # with their entries (`milestones zoo`)
    weights_transforms("resnet20_cifar10")("cat.jpg")             # the input those weights expect, (3, 32, 32)
    from_folder(export_entry("resnet20_cifar10", "hub/resnet20"))  # a folder to upload to a model hub, and back
"""

import importlib
import os

# Two trainings on the same CPU cores were each ~16x slower than alone, not ~2x: torch's OpenMP (libgomp) threads
# spin up to 300,000 rounds at every barrier, burning the cores the other process's threads are waiting for.
# Spinning 1,000 rounds keeps a run alone as fast (within noise) and makes two at once 2.5x slower each
# (scripts/bench/bench_threads.py; RESULTS.md, "Two runs on the same cores"). libgomp reads the setting when torch loads
# it, so it is made here, before anything imports torch (it has no effect if torch was imported first); a value
# the user has set wins. trainer.threads=1 is the other remedy for small models (no barriers at all), and
# trainer.threads: auto the one that follows the load (runtime.AutoThreads).
os.environ.setdefault("GOMP_SPINCOUNT", "1000")

from .version import __version__  # noqa: E402

# The public API, each name with the module that defines it, imported on first use (PEP 562's module __getattr__):
# `import milestones` itself imports no torch, so the CLI's listing commands answer at once (tests/test_cli.py), and
# `from milestones import create_model` or `milestones.fit` import what they need when they are asked for.
API = {
    "Config": "config", "count_parameters": "models", "create_model": "models", "evaluate": "train",
    "export_entry": "card", "fit": "train", "from_folder": "card", "get_weights": "registry",
    "ImageTransform": "data.transforms", "list_models": "catalog", "list_weights": "registry",
    "load_checkpoint": "checkpoint", "load_config": "configfile", "load_weights": "models",
    "read_checkpoint": "checkpoint", "train_one_epoch": "train", "weights_transforms": "predict",
}
__all__ = [*API, "__version__"]


def __getattr__(name: str):
    if name not in API:
        raise AttributeError(f"module 'milestones' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"milestones.{API[name]}"), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *API})

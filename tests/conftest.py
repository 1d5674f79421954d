"""Shared fixtures. Tests that read real data look in $MILESTONES_DATA, else ../shared/data beside the repo."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
torch.set_num_threads(min(2, torch.get_num_threads()))


def _data_root() -> Path | None:
    for candidate in (os.environ.get("MILESTONES_DATA"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "MNIST" / "raw").is_dir():
            return Path(candidate)
    return None


@pytest.fixture
def one_thread():
    """Tiny batches gain nothing from a second thread and lose ~100x when another process holds the other core
    (measured: ResNet-110 forward and backward on 4 images, 15 s with 2 threads beside a training run)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = _data_root()
    if root is None:
        pytest.skip("no data root with MNIST/raw (set MILESTONES_DATA)")
    return root


@pytest.fixture
def tiny_config(tmp_path, data_root):
    """A config dict for a seconds-long MNIST run in a temporary output folder."""
    return {
        "name": "tiny",
        "output_dir": str(tmp_path / "runs"),
        "seed": 0,
        "model": {"name": "mlp", "hidden": [64], "dropout": 0.1, "input_dropout": 0.0},
        "data": {"name": "mnist", "root": str(data_root), "train_size": 512, "test_size": 256, "download": False},
        "optim": {"name": "adamw", "lr": 3e-3},
        "schedule": {"name": "cosine"},
        "trainer": {"epochs": 2, "batch_size": 64, "progress": False},
    }


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None):
    """Run `python -m milestones ARGS` in a subprocess; return the CompletedProcess."""
    import subprocess

    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "milestones", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd or REPO, timeout=300)


def flip_a_weight_byte(path) -> None:
    """Damage a checkpoint the way a bad disk would: flip one byte inside its largest weight tensor (which torch.load
    itself would load without complaint)."""
    path = Path(path)
    weights = torch.load(path, weights_only=True)["model"]
    needle = max(weights.values(), key=lambda t: t.numel()).flatten()[:16].numpy().tobytes()
    data = bytearray(path.read_bytes())
    i = data.find(needle)
    assert i > 0, "weight bytes not found in the checkpoint"
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))

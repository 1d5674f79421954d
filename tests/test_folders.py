"""Streamed image folders (data/folders.py): layouts, the per-rank share of every batch, determinism with any
number of workers, training and exact resume on a class-folder tree of images of mixed sizes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from milestones import fit, load_checkpoint, read_checkpoint
from milestones.config import config_from_dict
from milestones.data.folders import (
    FolderLoader,
    load_folder_data,
    random_resized_crop_box,
)
from milestones.errors import DataError

pytestmark = pytest.mark.usefixtures("one_thread")

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def write_tree(root: Path, per_class: int = 6, split: bool = True) -> Path:
    """Class folders of noisy single-colour images of mixed sizes and formats (PNG and JPEG)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls, rgb in COLOURS.items():
        for i in range(per_class):
            part = ("train" if i < per_class - 2 else "val") if split else ""
            folder = root / part / cls
            folder.mkdir(parents=True, exist_ok=True)
            h, w = 40 + 8 * (i % 3), 56 - 8 * (i % 2)
            pixels = np.clip(np.array(rgb) + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.{'png' if i % 2 else 'jpg'}")
    return root


def folder_config(tmp_path: Path, tree: Path, **trainer) -> dict:
    return {"name": "folder", "output_dir": str(tmp_path / "runs"), "seed": 0,
            "model": {"name": "mlp", "in_features": 3 * 16 * 16, "hidden": [32], "num_classes": 3, "dropout": 0.0,
                      "input_dropout": 0.0},
            "data": {"name": "folder", "path": str(tree), "image_size": 16, "resize": 18, "workers": 0},
            "optim": {"name": "adamw", "lr": 1e-2}, "schedule": {"name": "constant"},
            "trainer": {"epochs": 3, "batch_size": 4, "eval_batch_size": 4, "progress": False, **trainer}}


def test_layouts_train_val_and_one_tree(tmp_path):
    both = load_folder_data("folder", root=tmp_path, path=str(write_tree(tmp_path / "a")), val_fraction=0.1)
    assert both.classes == ["blue", "green", "red"] and len(both.train.files) == 12 and len(both.test.files) == 6
    one = load_folder_data("folder", root=tmp_path, path=str(write_tree(tmp_path / "b", split=False)),
                           val_fraction=0.25)
    assert len(one.test.files) == 4 and len(one.train.files) == 14  # round(0.25 * 18) = 4 held out
    assert not set(one.test.files) & set(one.train.files)
    with pytest.raises(DataError, match="needs data.path"):
        load_folder_data("folder", root=tmp_path, path=None, val_fraction=0.1)
    (tmp_path / "c" / "train" / "x").mkdir(parents=True)
    with pytest.raises(DataError, match="no image files"):
        load_folder_data("folder", root=tmp_path, path=str(tmp_path / "c"), val_fraction=0.1)
    with pytest.raises(DataError, match="expected train/<wnid>"):
        load_folder_data("imagenet", root=tmp_path, path=str(tmp_path / "b"), val_fraction=0.1)


def test_random_resized_crop_stays_inside_and_is_seeded():
    for seed in range(50):
        top, left, h, w = random_resized_crop_box(40, 56, torch.Generator().manual_seed(seed))
        assert 0 <= top and top + h <= 40 and 0 <= left and left + w <= 56 and h > 0 and w > 0
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert random_resized_crop_box(40, 56, g1) == random_resized_crop_box(40, 56, g2)


def _batches(loader: FolderLoader, epoch: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    loader.set_epoch(epoch)
    return list(loader)


def test_ranks_share_every_global_batch_and_workers_change_nothing(tmp_path):
    data = load_folder_data("folder", root=tmp_path, path=str(write_tree(tmp_path / "t")), val_fraction=0.1)
    common = dict(batch_size=4, train=True, image_size=16, resize=18, mean=(0.5,) * 3, std=(0.25,) * 3, seed=0,
                  device=torch.device("cpu"))
    one = FolderLoader(data.train, workers=0, **common)
    ranks = [FolderLoader(data.train, workers=0, rank=r, world_size=2, **common) for r in range(2)]
    assert len(one) == 3 and all(len(r) == 3 for r in ranks)  # 12 images, global batch 4
    whole = one.indices()
    assert sorted(ranks[0].indices() + ranks[1].indices()) == sorted(whole)
    assert ranks[0].indices()[:2] == whole[0:4:2] and ranks[1].indices()[:2] == whole[1:4:2]  # interleaved shares
    other_epoch = FolderLoader(data.train, workers=0, **common)
    other_epoch.set_epoch(2)
    assert other_epoch.indices() != whole  # a new order every epoch
    with_workers = FolderLoader(data.train, workers=2, **common)
    for (xa, ya), (xb, yb) in zip(_batches(one), _batches(with_workers)):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)  # crops and flips do not depend on the worker
    x, _ = _batches(one)[0]
    assert x.shape == (4, 3, 16, 16) and x.dtype == torch.float32


def test_folder_training_learns_and_resumes_exactly(tmp_path):
    tree = write_tree(tmp_path / "tree")
    raw = folder_config(tmp_path, tree)
    results = fit(config_from_dict(raw))
    assert results["test_acc"] > 0.5  # three colours: far above chance (1/3)
    ckpt = read_checkpoint(tmp_path / "runs" / "folder" / "checkpoint.pt")
    assert ckpt["data_meta"]["classes"] == ["blue", "green", "red"] and ckpt["data_meta"]["image_shape"] == [3, 16, 16]

    fit(config_from_dict({**raw, "name": "stopped", "trainer": {**raw["trainer"], "stop_epoch": 1}}))
    resumed = fit(config_from_dict({**raw, "name": "stopped"}), resume=True)
    assert resumed["test_acc"] == results["test_acc"]
    a = load_checkpoint(tmp_path / "runs" / "folder" / "checkpoint.pt").state_dict()
    b = load_checkpoint(tmp_path / "runs" / "stopped" / "checkpoint.pt").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = [json.loads(l) for l in (tmp_path / "runs" / "folder" / "metrics.jsonl").read_text().splitlines()]
    assert "test_acc5" not in rows[-1]  # 3 classes: no top-5


def test_top5_accuracy_for_many_classes():
    from milestones.tasks.classification import classification_step

    logits = torch.arange(20.0).repeat(3, 1)  # every row ranks class 19 first, then 18, ...
    out = classification_step(lambda x: x, (logits, torch.tensor([19, 16, 0])))
    assert int(out.correct) == 1 and int(out.correct5) == 2


def test_predict_prints_the_folder_class_names_of_a_checkpoint(tmp_path):
    from conftest import run_cli

    tree = write_tree(tmp_path / "tree")
    fit(config_from_dict(folder_config(tmp_path, tree)))
    image = next((tree / "val" / "red").iterdir())
    r = run_cli("predict", "--checkpoint", str(tmp_path / "runs" / "folder" / "checkpoint.pt"), str(image),
                "--top", "2", env={"OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split(": ")[1].startswith("red ")

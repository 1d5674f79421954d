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
    with pytest.raises(DataError, match="empty class folder"):
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


# --- ImageNet's layout, every ImageNet-scale model ----------------------------------------------------------------

IMAGENET_MODELS = {  # model -> arguments for 64x64 crops of 12 classes (full width: only the resolution is tiny)
    "alexnet224": {}, "resnet18": {}, "resnet34": {}, "resnet50": {}, "plain18": {}, "plain34": {},
    "vit_b16": {"image_size": 64},
}


@pytest.fixture(scope="module")
def imagenet_tree(tmp_path_factory) -> Path:
    """ImageNet's layout (train/<wnid>/*.JPEG, val/<wnid>/*.JPEG, LOC_synset_mapping.txt) with 12 classes of real
    JPEGs of varied sizes, two training and one validation image each."""
    from PIL import Image

    root = tmp_path_factory.mktemp("imagenet")
    rng = np.random.default_rng(1)
    wnids = [f"n{1440764 + i:08d}" for i in range(12)]
    (root / "LOC_synset_mapping.txt").write_text("".join(f"{w} class {i}, a thing\n" for i, w in enumerate(wnids)))
    for i, w in enumerate(wnids):
        for split, n in (("train", 2), ("val", 1)):
            (root / split / w).mkdir(parents=True)
            for j in range(n):
                h, wd = 60 + 13 * ((i + j) % 4), 90 - 9 * (j % 3)
                pixels = rng.integers(0, 255, (h, wd, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / w / f"{w}_{j}.JPEG", quality=85)
    return root


@pytest.mark.parametrize("name", sorted(IMAGENET_MODELS))
def test_each_imagenet_model_trains_an_epoch_on_an_imagenet_tree(name, imagenet_tree, tmp_path):
    raw = {"name": name, "output_dir": str(tmp_path / "runs"), "seed": 0,
           "model": {"name": name, "num_classes": 12, **IMAGENET_MODELS[name]},
           "data": {"name": "imagenet", "path": str(imagenet_tree), "image_size": 64, "resize": 72, "workers": 0},
           "optim": {"name": "sgd", "lr": 0.01, "momentum": 0.9, "lr_batch": 256}, "schedule": {"name": "constant"},
           "trainer": {"epochs": 1, "batch_size": 8, "eval_batch_size": 12, "progress": False}}
    results = fit(config_from_dict(raw))
    assert 0 <= results["test_acc"] <= results["test_acc5"] <= 1  # top-1 and top-5 on the 12 val images
    ckpt = read_checkpoint(tmp_path / "runs" / name / "checkpoint.pt")
    assert ckpt["data_meta"]["classes"][0] == "class 0, a thing"  # names from LOC_synset_mapping.txt
    if name == "resnet18":  # resume: a second epoch continues the first exactly
        two = fit(config_from_dict({**raw, "name": "two", "trainer": {**raw["trainer"], "epochs": 2}}))
        fit(config_from_dict({**raw, "name": "resumed", "trainer": {**raw["trainer"], "epochs": 2,
                                                                      "stop_epoch": 1}}))
        resumed = fit(config_from_dict({**raw, "name": "resumed", "trainer": {**raw["trainer"], "epochs": 2}}),
                      resume=True)
        assert resumed["test_acc"] == two["test_acc"] and resumed["test_loss"] == pytest.approx(two["test_loss"])


def test_bad_trees_are_one_line(tmp_path, imagenet_tree):
    import shutil

    def copy(name: str) -> Path:
        return Path(shutil.copytree(imagenet_tree, tmp_path / name))

    notes = copy("notes")
    (notes / "train" / "n01440764" / "README.txt").write_text("not an image")
    with pytest.raises(DataError, match="README.txt: not an image file"):
        load_folder_data("imagenet", root=tmp_path, path=str(notes), val_fraction=0.1)
    empty = copy("empty")
    for f in (empty / "train" / "n01440765").iterdir():
        f.unlink()
    with pytest.raises(DataError, match="empty class folder"):
        load_folder_data("imagenet", root=tmp_path, path=str(empty), val_fraction=0.1)
    other = copy("other")
    (other / "val" / "n09999999").mkdir()
    with pytest.raises(DataError, match="class folders that train/ lacks \\(n09999999\\)"):
        load_folder_data("imagenet", root=tmp_path, path=str(other), val_fraction=0.1)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_jpeg_that_fails_mid_epoch_stops_with_one_line(tmp_path, imagenet_tree, workers):
    import shutil

    tree = Path(shutil.copytree(imagenet_tree, tmp_path / "tree"))
    bad = tree / "train" / "n01440770" / "n01440770_1.JPEG"
    bad.write_bytes(bad.read_bytes()[:200])  # truncated: the header reads, the pixels do not
    data = load_folder_data("imagenet", root=tmp_path, path=str(tree), val_fraction=0.1)
    loader = FolderLoader(data.train, batch_size=8, train=True, image_size=32, resize=36, mean=(0.5,) * 3,
                          std=(0.25,) * 3, seed=0, workers=workers, device=torch.device("cpu"))
    with pytest.raises(DataError) as e:
        list(loader)
    assert str(e.value).startswith(str(bad)) and "cannot decode image" in str(e.value)
    assert "\n" not in str(e.value)

"""Every bad input the CLI can meet, as one table: each case must end with ONE line `milestones: error: ...` on
stderr, exit status 2, and no traceback.

The table in docs/bad_input.md (case -> message) is checked here against the real messages: a case whose message
changes fails until the docs are regenerated with

    MILESTONES_WRITE_DOCS=1 python -m pytest tests/test_bad_input.py

Paths in the messages are written as <tmp> (the test's temporary folder) and <data> (the data root).
"""

from __future__ import annotations

import errno
import fcntl
import gzip
import hashlib
import os
import re
import shutil
import struct
import sys
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
import yaml

from conftest import REPO, flip_a_weight_byte
from milestones.__main__ import main
from milestones.data.text import load_translation_data
from milestones.models import create_model
from milestones.pretrained import forget_registry, weights_dir
from test_translation import save_tiny_translator, write_tiny_corpus

DOC = REPO / "docs" / "bad_input.md"
WRITE_DOCS = bool(os.environ.get("MILESTONES_WRITE_DOCS"))


@dataclass
class Env:
    """What a case can use: a temporary folder, the real data root, and helpers that write inputs into it."""

    tmp: Path
    data: Path

    def config(self, text: str | None = None, **sections) -> str:
        """A seconds-long MNIST config (sections override it), or the given YAML text; returns its path."""
        path = self.tmp / "case.yaml"
        if text is None:
            cfg = {"name": "case", "output_dir": str(self.tmp / "runs"), "model": {"name": "mlp", "hidden": [16]},
                   "data": {"name": "mnist", "root": str(self.data), "train_size": 256, "test_size": 128},
                   "trainer": {"epochs": 1, "batch_size": 64, "progress": False}}
            for k, v in sections.items():  # merged into the section; a model with a new name replaces it
                merge = isinstance(v, dict) and not (k == "model" and "name" in v)
                cfg[k] = {**cfg.get(k, {}), **v} if merge else v
            text = yaml.safe_dump(cfg)
        path.write_text(text)
        return str(path)

    def mnist_copy(self, damage: Callable[[Path], None]) -> str:
        """A copy of MNIST with one file damaged; returns the root to point data.root at."""
        root = self.tmp / "root"
        shutil.copytree(self.data / "MNIST" / "raw", root / "MNIST" / "raw")
        damage(root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz")
        return str(root)

    def cifar_tree(self, extra: Callable[[Path], None]) -> str:
        """A two-class CIFAR-10 class-folder tree of 32x32 PNGs, changed by `extra`; returns its root."""
        from PIL import Image

        root = self.tmp / "root"
        for split in ("train", "test"):
            for cls in ("airplane", "automobile"):
                (root / "cifar10_jpeg" / split / cls).mkdir(parents=True)
                for i in range(2):
                    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(root / "cifar10_jpeg" / split / cls / f"{i}.png")
        extra(root / "cifar10_jpeg" / "train")
        return str(root)

    def folder_tree(self, classes: tuple[str, ...]) -> str:
        """A class-folder tree of 32x32 PNGs (`data.name: folder`), two images a class; returns its root."""
        from PIL import Image

        root = self.tmp / "photos"
        for cls in classes:
            (root / cls).mkdir(parents=True)
            for i in range(2):
                Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(root / cls / f"{i}.png")
        return str(root)

    def pairs(self, source: str, target: str | None = None, **data) -> str:
        """A config training a small Transformer on your own pairs: a TSV file `source` (no `target`) or two
        files; returns its path."""
        files = {}
        for key, text in (("path", source), ) if target is None else (("source_file", source), ("target_file", target)):
            files[key] = str(self.tmp / f"{key}.txt")
            Path(files[key]).write_text(text, encoding="utf-8")
        return self.config(model={"name": "transformer", "d_model": 16, "heads": 2, "d_ff": 32, "encoder_layers": 1,
                                  "decoder_layers": 1},
                           data={"name": "pairs", "languages": ["ja", "en"], **files, **data})

    def trained(self) -> str:
        """A finished one-epoch run of the MNIST config; returns the config path."""
        path = self.config()
        assert main(["train", path]) == 0
        return path

    @property
    def checkpoint(self) -> str:
        return str(self.tmp / "runs" / "case" / "checkpoint.pt")

    def translator(self, name: str = "transformer") -> str:
        """A small untrained translator checkpoint with real vocabularies (six ja-en pairs); returns its path."""
        root = write_tiny_corpus(self.tmp / "enja")
        meta = load_translation_data("small_parallel_enja", root=str(root), min_freq=1).meta
        return str(save_tiny_translator(name, meta, self.tmp / f"{name}.pt"))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:1000])


def _wrong_magic(path: Path) -> None:
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[2] = 0x0D  # IDX type byte: float instead of unsigned byte
    path.write_bytes(gzip.compress(bytes(raw), compresslevel=1))


class _Payload:
    def __reduce__(self):
        return os.system, ("echo pwned",)


def _evil(env: Env) -> str:
    path = env.tmp / "evil.pt"
    torch.save({"model": {}, "config": {}, "x": _Payload()}, path)
    return str(path)


def _no_matplotlib(env: Env, monkeypatch) -> list[str]:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    return ["translate", "--checkpoint", env.translator(), "彼は背が高い。", "--attention", str(env.tmp / "a.png")]


def _unwritable(env: Env) -> list[str]:
    (env.tmp / "file").write_text("")
    return ["train", env.config(output_dir=str(env.tmp / "file" / "runs"))]  # a folder inside a file


def _other_model(env: Env) -> list[str]:
    env.trained()
    return ["eval", env.config(model={"name": "lenet5"}), "--checkpoint", env.checkpoint]


def _truncated_checkpoint(env: Env) -> list[str]:
    path = env.trained()
    _truncate(Path(env.checkpoint))
    return ["eval", path, "--checkpoint", env.checkpoint]


def _corrupt_checkpoint(env: Env) -> list[str]:
    path = env.trained()
    flip_a_weight_byte(env.checkpoint)
    return ["eval", path, "--checkpoint", env.checkpoint]


def _resume_other_config(env: Env) -> list[str]:
    return ["train", env.trained(), "--resume", "--set", "optim.lr=0.5"]


def _resume_past_the_end(env: Env) -> list[str]:
    path = env.config()
    assert main(["train", path, "--set", "trainer.epochs=2"]) == 0
    return ["train", path, "--resume", "--set", "trainer.epochs=2", "--set", "trainer.stop_epoch=1"]


def _train_twice(env: Env) -> list[str]:
    return ["train", env.trained()]


def _plain_state_dict(env: Env) -> list[str]:
    torch.save(create_model("mlp").state_dict(), env.tmp / "weights.pt")
    return ["eval", env.config(), "--checkpoint", str(env.tmp / "weights.pt")]


def _huge_config(env: Env) -> list[str]:
    return ["train", env.config("model: {name: mlp}\n" + "# padding\n" * 200_000)]


HELD: list = []  # lock files held by this process until the test session ends


def _run_busy(env: Env) -> list[str]:
    """The run folder's lock held (here, by this process, as another run would hold it) while a run starts."""
    run = env.tmp / "runs" / "case"
    run.mkdir(parents=True)
    lock = open(run / ".lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    lock.write("4242\n")  # the PID the holder writes
    lock.flush()
    HELD.append(lock)
    return ["train", env.config()]


def _truncated_results(env: Env) -> list[str]:
    env.trained()
    shutil.copytree(env.tmp / "runs" / "case", env.tmp / "runs" / "case2")
    results = env.tmp / "runs" / "case2" / "results.json"
    results.write_text(results.read_text()[:40])
    return ["compare", "--runs", str(env.tmp / "runs"), "--strict"]


def _blank_file(env: Env) -> list[str]:
    (env.tmp / "blank.txt").write_text("\n \n")
    return ["translate", "--checkpoint", env.translator(), "--file", str(env.tmp / "blank.txt")]


@dataclass
class Case:
    id: str
    what: str  # the bad input, for the docs table
    argv: Callable  # (env) or (env, monkeypatch) -> argv
    expect: str  # a fragment the message must contain
    needs_no_gpu: bool = False
    quotes_torch: bool = False  # the message ends with torch's own words "(...)", which may change between versions


CASES = [
    # --- configs ---
    Case("yaml", "malformed YAML (an unclosed brace)", lambda e: ["train", e.config("model: {name: mlp\n")],
         "malformed YAML at line"),
    Case("toplevel", "the file is a YAML list, not a mapping", lambda e: ["train", e.config("- a\n- b\n")],
         "the top level must be a mapping"),
    Case("section", "a section that is not a mapping", lambda e: ["train", e.config("model: {name: mlp}\ntrainer: 3\n")],
         "'trainer' must be a mapping"),
    Case("unknown_key", "unknown key (a typo: `epoch`)", lambda e: ["train", e.config(trainer={"epoch": 3})],
         "unknown key 'trainer.epoch' (did you mean 'epochs'?)"),
    Case("wrong_type", "wrong type (`batch_size: many`)", lambda e: ["train", e.config(trainer={"batch_size": "many"})],
         "trainer.batch_size: expected int, got str 'many'"),
    Case("batch_zero", "zero batch size", lambda e: ["train", e.config(), "--set", "trainer.batch_size=0"],
         "trainer.batch_size must be >= 1, got 0"),
    Case("batch_negative", "negative batch size", lambda e: ["train", e.config(), "--set", "trainer.batch_size=-8"],
         "trainer.batch_size must be >= 1, got -8"),
    Case("lr_negative", "negative learning rate", lambda e: ["train", e.config(), "--set", "optim.lr=-0.1"],
         "optim.lr must be > 0, got -0.1"),
    Case("lr_zero", "zero learning rate", lambda e: ["train", e.config(), "--set", "optim.lr=0"],
         "optim.lr must be > 0, got 0"),
    Case("epochs_zero", "zero epochs", lambda e: ["train", e.config(), "--set", "trainer.epochs=0"],
         "trainer.epochs must be >= 1, got 0"),
    Case("stop_epoch", "stop_epoch past the schedule", lambda e: ["train", e.config(), "--set", "trainer.stop_epoch=5"],
         "trainer.stop_epoch must be in [1, epochs] or null, got 5"),
    Case("unknown_model", "unknown model name", lambda e: ["train", e.config(model={"name": "perceptron"})],
         "unknown model 'perceptron'"),
    Case("model_arg", "unknown model argument", lambda e: ["train", e.config(model={"widht": 3})],
         "unknown key 'model.widht' for model 'mlp'"),
    Case("unknown_data", "unknown data set name", lambda e: ["train", e.config(data={"name": "imagenet21k"})],
         "data.name: expected one of"),
    Case("choice", "a value outside the choices (`device: gpu`)", lambda e: ["train", e.config(), "--set", "trainer.device=gpu"],
         "trainer.device: expected one of 'auto', 'cpu', 'cuda'"),
    Case("set_no_equals", "`--set` without `=`", lambda e: ["train", e.config(), "--set", "trainer.epochs"],
         "expected key=value, got 'trainer.epochs'"),
    Case("set_into_value", "`--set` into a value", lambda e: ["train", e.config(), "--set", "trainer.epochs.x=1"],
         "not a mapping"),
    Case("no_config", "config file not found", lambda e: ["train", str(e.tmp / "nope.yaml")], "config file not found"),
    Case("task", "a data set of another task", lambda e: ["train", e.config(task="classification",
                                                                             data={"name": "adding"})],
         "task must be 'regression' for data.name 'adding'"),
    Case("model_vs_data", "a model that cannot take the images", lambda e: ["train", e.config(model={"in_features": 3072})],
         "model 'mlp' cannot take mnist images of shape (1, 28, 28)", quotes_torch=True),
    Case("model_huge", "a model size off by orders of magnitude",
         lambda e: ["train", e.config(), "--set", "model.hidden=[100000000]"],
         "parameters (over 2,000,000,000); check the sizes"),
    Case("classes", "a model with the wrong number of outputs", lambda e: ["train", e.config(model={"num_classes": 7})],
         "has 7 outputs but mnist has 10 classes"),
    Case("classes_zero", "`num_classes: 0`", lambda e: ["train", e.config(model={"num_classes": 0})],
         "model.num_classes must be >= 1, got 0"),
    Case("weights_channels", "fine-tuning weights of another input channel count (grey digits' on colour photos)",
         lambda e: ["train", e.config(model={"name": "lenet5", "weights": "lenet5_mnist"}, data={"name": "cifar10"})],
         "'lenet5_mnist' takes 1-channel images and cifar10 has 3-channel ones"),
    Case("config_weights_unknown", "`model.weights` that the model has none of",
         lambda e: ["train", e.config(model={"name": "lenet5", "weights": "cifar10"})],
         "model.weights: model 'lenet5' has no weights 'cifar10'"),
    Case("freeze_headless", "`trainer.freeze` for a model without a classifier head",
         lambda e: ["train", e.config(model={"name": "lstm"}, data={"name": "adding"}), "--set",
                    "trainer.freeze=backbone"], "model 'lstm' has no classifier head to train alone"),
    Case("cuda", "`device: cuda` with no GPU", lambda e: ["train", e.config(), "--set", "trainer.device=cuda"],
         "no CUDA GPU is available", needs_no_gpu=True),
    Case("fp16_cpu", "fp16 on the CPU", lambda e: ["train", e.config(), "--set", "trainer.device=cpu",
                                                   "--set", "trainer.precision=fp16"], "needs a CUDA GPU"),
    Case("test_flip", "test-time flips for a non-image task",
         lambda e: ["train", e.config("task: regression\nmodel: {name: lstm}\ndata: {name: adding}\n"
                                      "trainer: {test_flip: true}\n")], "trainer.test_flip must be false unless"),
    Case("test_shift", "test-time shifts for a non-image task",
         lambda e: ["train", e.config("task: regression\nmodel: {name: lstm}\ndata: {name: adding}\n"
                                      "trainer: {test_shift: 1}\n")], "trainer.test_shift must be 0 unless"),
    Case("test_shift_negative", "a negative test-time shift",
         lambda e: ["train", e.config(), "--set", "trainer.test_shift=-1"], "trainer.test_shift must be >= 0"),
    Case("beam_images", "beam search for an image model",
         lambda e: ["train", e.config(), "--set", "trainer.beam=4"], "trainer.beam must be 1 unless task is seq2seq"),
    Case("alternate_flip", "alternating flips without flips",
         lambda e: ["train", e.config(data={"alternate_flip": True})],
         "data.alternate_flip must be false unless data.flip is true"),
    Case("name_escape", "a run name that leaves the output folder",
         lambda e: ["train", e.config(), "--set", "name=../../escaped"], "name must be one folder name"),
    Case("yaml_alias", "YAML aliases (nested ones expand exponentially)",
         lambda e: ["train", e.config("a: &a [1, 1, 1]\nb: &b [*a, *a, *a]\nmodel: {name: mlp}\n")],
         "YAML aliases are not allowed in configs (*a at line 2)"),
    Case("seed_range", "a seed outside numpy's range",
         lambda e: ["train", e.config(), "--set", "seed=100000000000000000000000000000"],
         "seed must be in [0, 4294967295]"),
    Case("lr_infinite", "an infinite learning rate", lambda e: ["train", e.config(), "--set", "optim.lr=.inf"],
         "optim.lr must be a finite number, got inf"),
    Case("size_huge", "a size no run could have",
         lambda e: ["train", e.config(), "--set", "data.train_size=1000000000000"],
         "data.train_size must be at most 1,000,000,000 in size"),
    Case("value_huge", "a 100 kB value (an error repeats 80 characters of it)",
         lambda e: ["train", e.config(trainer={"batch_size": "x" * 100_000})], "... (100,002 characters)"),
    Case("config_huge", "a config file of 2 MB", _huge_config, "is not a config (the limit is 1,048,576)"),
    Case("pack_depths", "`pack` with nets of two depths", lambda e: ["pack", "resnet20_cifar10_gpu", "resnet56_cifar10_gpu"],
         "packed nets share one depth, got [20, 56]: pack each depth on its own"),
    Case("pack_other_model", "`pack` with a model that does not pack", lambda e: ["pack", e.config(), e.config()],
         "only the CIFAR ResNets and plain nets pack"),
    Case("pack_differ", "`pack` with configs that differ beyond seed and model",
         lambda e: ["pack", "resnet20_cifar10_gpu", e.config("model: {name: plain20}\ndata: {name: cifar10}\n")],
         "packed runs differ only in seed, name, output_dir and plain/residual model"),
    # --- data ---
    Case("no_data", "missing data root", lambda e: ["train", e.config(data={"root": str(e.tmp / "empty"), "download": False})],
         "missing train-images-idx3-ubyte.gz"),
    Case("idx_truncated", "truncated IDX file", lambda e: ["train", e.config(data={"root": e.mnist_copy(_truncate)})],
         "train-images-idx3-ubyte.gz: cannot read IDX file"),
    Case("idx_magic", "IDX file with a wrong magic number", lambda e: ["train", e.config(data={"root": e.mnist_copy(_wrong_magic)})],
         "not an IDX file of unsigned bytes"),
    Case("empty_class", "an empty class folder",
         lambda e: ["train", e.config(data={"name": "cifar10", "root": e.cifar_tree(lambda t: (t / "bird").mkdir()),
                                            "cache_dir": str(e.tmp / "cache")})], "bird: empty class folder"),
    Case("one_class", "a class folder tree with one class",
         lambda e: ["train", e.config(data={"name": "folder", "path": e.folder_tree(("cat",)), "workers": 0})],
         "photos: one class folder (cat); a classifier needs at least two"),
    Case("not_an_image", "a non-image file among the images",
         lambda e: ["train", e.config(data={"name": "cifar10", "root": e.cifar_tree(
             lambda t: (t / "airplane" / "notes.txt").write_text("hi")), "cache_dir": str(e.tmp / "cache")})],
         "notes.txt: not an image file"),
    Case("bad_image", "an image file that does not decode",
         lambda e: ["train", e.config(data={"name": "cifar10", "root": e.cifar_tree(
             lambda t: (t / "airplane" / "9.jpg").write_bytes(b"not a jpeg")), "cache_dir": str(e.tmp / "cache")})],
         "9.jpg: cannot decode image"),
    Case("pairs_missing_line", "your own sentence pairs with a line missing from one file",
         lambda e: ["train", e.pairs("彼は背が高い。\n猫が好き。\n今日は暑い。\n", "he is tall .\ni like cats .\n")],
         "target_file.txt has 2: not line-aligned (a line missing or extra?)"),
    Case("pairs_blank_side", "a pair with a blank source (the files have slipped out of line)",
         lambda e: ["train", e.pairs("彼は背が高い。\n\n今日は暑い。\n", "he is tall .\ni like cats .\nit is hot .\n")],
         "line 2 has a target but no source: are the two sides aligned?"),
    Case("pairs_empty", "an empty file of sentence pairs", lambda e: ["train", e.pairs("\n")],
         "no sentence pairs (empty)"),
    Case("pairs_no_tab", "a pairs TSV line without its tab", lambda e: ["train", e.pairs("彼は背が高い。 he is tall .\n")],
         "line 1 has 0 tabs; each line must be source TAB target"),
    Case("pairs_languages", "your own pairs without their languages",
         lambda e: ["train", e.pairs("a\tb\n", languages=None)], "data.languages: name the pairs' languages"),
    # --- runs and checkpoints ---
    Case("nothing_to_resume", "`--resume` with nothing to resume", lambda e: ["train", e.config(), "--resume"],
         "nothing to resume"),
    Case("run_exists", "training again into a finished run's folder", _train_twice, "already holds a run"),
    Case("resume_changed", "`--resume` with a changed config", _resume_other_config,
         "made with a different config (optim.lr:"),
    Case("resume_past_end", "`--resume` of a finished run with an earlier stop", _resume_past_the_end,
         "past epoch 1 where this config ends"),
    Case("unwritable", "an output folder that is not writable", _unwritable, "is not writable"),
    Case("run_busy", "a second run into a folder another run is writing", _run_busy,
         "is being written by another run (PID 4242)"),
    Case("compare_strict", "`compare --strict` with a truncated results.json", _truncated_results,
         "1 run folder(s) under <tmp>/runs cannot be read (--strict)"),
    Case("ckpt_missing", "eval of a checkpoint that does not exist",
         lambda e: ["eval", e.config(), "--checkpoint", str(e.tmp / "nope.pt")], "nope.pt: checkpoint not found"),
    Case("ckpt_other_model", "a checkpoint of another model", _other_model, "holds a 'mlp' model, the config asks for 'lenet5'"),
    Case("ckpt_truncated", "a truncated checkpoint", _truncated_checkpoint, "truncated or damaged"),
    Case("ckpt_corrupt", "a checkpoint with one byte flipped", _corrupt_checkpoint, "corrupt checkpoint"),
    Case("ckpt_evil", "a checkpoint crafted to run code when unpickled",
         lambda e: ["eval", e.config(), "--checkpoint", _evil(e)], "refused: unpickling it would import and call"),
    Case("ckpt_foreign", "a bare state_dict, not a milestones checkpoint", _plain_state_dict,
         "not a milestones checkpoint"),
    # --- translation ---
    Case("empty_sentence", "translate an empty sentence", lambda e: ["translate", "--checkpoint", e.translator(), "  "],
         "sentence 1 is empty"),
    Case("unknown_words", "translate a sentence of only unknown words",
         lambda e: ["translate", "--checkpoint", e.translator(), "xyz qqq"],
         "none of its tokens is in the model's 'ja' vocabulary"),
    Case("too_long", "translate a sentence far longer than training",
         lambda e: ["translate", "--checkpoint", e.translator(), "彼" * 40], "has 40 tokens; the longest training source had"),
    Case("no_matplotlib", "an attention plot with matplotlib broken or removed", _no_matplotlib,
         "needs matplotlib, a dependency of milestones"),
    Case("no_attention", "an attention plot of a model without attention",
         lambda e: ["translate", "--checkpoint", e.translator("seq2seq"), "彼は背が高い。", "--attention",
                    str(e.tmp / "a.png")], "model (Seq2Seq) has no attention"),
    Case("not_translator", "translate with an image classifier's checkpoint",
         lambda e: ["translate", "--checkpoint", (e.trained(), e.checkpoint)[1], "彼は背が高い。"],
         "not a translation model"),
    Case("beam_zero", "beam size 0", lambda e: ["translate", "--checkpoint", e.translator(), "彼", "--beam", "0"],
         "--beam must be >= 1"),
    Case("blank_file", "a sentence file with only blank lines", _blank_file, "no sentence to translate"),
    Case("missing_file", "a sentence file that does not exist",
         lambda e: ["translate", "--checkpoint", e.translator(), "--file", str(e.tmp / "missing.txt")],
         "missing.txt: cannot read"),
]


def _zoo_copy(env: Env, monkeypatch, damage: Callable[[Path, dict], None]) -> Path:
    """A copy of the shipped zoo in <tmp>/zoo with `damage(folder, registry)` applied; the zoo points at it."""
    folder = env.tmp / "zoo"
    shutil.copytree(weights_dir(), folder)
    registry = yaml.safe_load((folder / "zoo.yaml").read_text(encoding="utf-8"))
    damage(folder, registry)
    (folder / "zoo.yaml").write_text(yaml.safe_dump(registry, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("MILESTONES_WEIGHTS", str(folder))
    forget_registry()
    return folder


def _flip_weights_byte(folder: Path, registry: dict) -> None:
    path = folder / "lenet5_mnist.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the tensors
    path.write_bytes(bytes(data))


def _truncate_weights(folder: Path, registry: dict) -> None:
    path = folder / "lenet5_mnist.safetensors"
    path.write_bytes(path.read_bytes()[:1000])


def _registry_sha(folder: Path, registry: dict) -> None:
    registry["lenet5_mnist"]["sha256"] = "0" * 64


def _other_models_file(folder: Path, registry: dict) -> None:
    """The MLP's file in LeNet-5's place, with the registry updated to match it: only the header can tell."""
    data = (folder / "mlp_mnist.safetensors").read_bytes()
    (folder / "lenet5_mnist.safetensors").write_bytes(data)
    registry["lenet5_mnist"].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))


def _not_shipped(folder: Path, registry: dict) -> None:
    registry["lenet5_mnist"].update(file=None, sha256=None, bytes=None)


def _weights_case(damage: Callable[[Path, dict], None]) -> Callable:
    def argv(e: Env, monkeypatch) -> list[str]:
        _zoo_copy(e, monkeypatch, damage)
        return ["eval", "--weights", "lenet5_mnist", "--data", str(e.data)]
    return argv


def _not_an_image(e: Env) -> list[str]:
    (e.tmp / "notes.png").write_text("not a picture")
    return ["predict", "--weights", "lenet5_mnist", str(e.tmp / "notes.png")]


def _story_case(damage: Callable[[Path, dict], None]) -> Callable:
    def argv(e: Env, monkeypatch) -> list[str]:
        _zoo_copy(e, monkeypatch, damage)
        return ["story"]
    return argv


def _flip_alexnet_byte(folder: Path, registry: dict) -> None:
    path = folder / "alexnet_cifar10.safetensors"  # read for its recorded number, never run: still checked
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _remove_lstm_file(folder: Path, registry: dict) -> None:
    (folder / "lstm_adding100.safetensors").unlink()


ZOO_CASES = [
    Case("story_damaged", "`story` with a damaged shipped file", _story_case(_flip_alexnet_byte),
         "damaged or replaced"),
    Case("story_missing", "`story` with a shipped file gone", _story_case(_remove_lstm_file), "missing"),
    Case("weights_flipped", "a weights file with one byte flipped", _weights_case(_flip_weights_byte), "damaged or replaced"),
    Case("weights_truncated", "a truncated weights file", _weights_case(_truncate_weights), "truncated or replaced"),
    Case("weights_registry_sha", "a registry entry whose SHA-256 does not match its file",
         _weights_case(_registry_sha), "damaged or replaced"),
    Case("weights_other_model", "a safetensors file of another model (registry updated to match it)",
         _weights_case(_other_models_file), "holds weights of a 'mlp' model"),
    Case("weights_not_shipped", "an entry whose file is not shipped", _weights_case(_not_shipped),
         "are not shipped; train them with"),
    Case("weights_unknown", "a weights name that does not exist", lambda e: ["eval", "--weights", "lenet_mnist"],
         "did you mean 'lenet5_mnist'?"),
    Case("weights_with_config", "eval --weights with a config as well",
         lambda e: ["eval", e.config(), "--weights", "lenet5_mnist"], "takes no CONFIG"),
    Case("predict_not_image", "predict on a file that is not an image", _not_an_image, "not an image this can read"),
    Case("predict_missing", "predict on a file that does not exist",
         lambda e: ["predict", "--weights", "lenet5_mnist", str(e.tmp / "missing.png")], "no such file"),
    Case("predict_not_classifier", "predict with a model that is not an image classifier",
         lambda e: ["predict", "--weights", "lstm_adding100", str(e.tmp / "x.png")], "not an image classifier"),
    Case("translate_not_translator", "translate with weights that are not a translator",
         lambda e: ["translate", "--weights", "lenet5_mnist", "彼は背が高い。"], "not a translator"),
    Case("config_unknown_name", "train a shipped config by a misspelt name", lambda e: ["train", "mlp_mnst"],
         "did you mean 'mlp_mnist'?"),
]
CASES += ZOO_CASES


def _predict_on(make: Callable[[Path], None], name: str) -> Callable:
    """`predict` with LeNet-5 on the file `make` writes at <tmp>/<name>."""
    def argv(e: Env) -> list[str]:
        make(e.tmp / name)
        return ["predict", "--weights", "lenet5_mnist", str(e.tmp / name)]
    return argv


def _fifo(path: Path) -> None:
    """A named pipe; were it opened for reading, a writer comes after 10 s, so the case fails rather than hangs."""
    os.mkfifo(path)

    def unblock() -> None:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # no reader waiting: as it should be
            pass

    timer = threading.Timer(10.0, unblock)
    timer.daemon = True
    timer.start()


def _png_claiming_a_huge_size(path: Path) -> None:
    """A 57-byte PNG whose header claims 100,000 x 100,000 pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)  # 8-bit greyscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def _tiff(values: np.ndarray) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        from PIL import Image

        Image.fromarray(values).save(path)
    return make


def _results_beside_another_config(env: Env) -> list[str]:
    """What an overwrite killed before its first epoch left before run folders held one run: a new config.yaml
    beside the old run's results.json."""
    env.trained()
    shutil.copytree(env.tmp / "runs" / "case", env.tmp / "runs" / "case2")
    config = env.tmp / "runs" / "case2" / "config.yaml"
    config.write_text(config.read_text().replace("seed: 0", "seed: 1"))
    return ["compare", "--runs", str(env.tmp / "runs"), "--strict"]


CASES += [
    Case("predict_fifo", "predict on a named pipe (reading it would wait for ever)",
         _predict_on(_fifo, "pipe.png"), "pipe.png: a named pipe, not an image file"),
    Case("predict_folder", "predict on a folder", _predict_on(lambda p: p.mkdir(), "folder.png"),
         "folder.png: a folder, not an image file"),
    Case("predict_pixel_bomb", "predict on a 57-byte PNG whose header claims 100,000 x 100,000 pixels",
         _predict_on(_png_claiming_a_huge_size, "bomb.png"), "more pixels than the 89,478,485 Pillow decodes safely"),
    Case("predict_float_range", "predict on a float TIFF of values 0 to 255 (float images are read as 0 to 1)",
         _predict_on(_tiff(np.array([[0.0, 255.0]], np.float32)), "float.tif"), "float pixels from 0 to 255"),
    Case("predict_int32_range", "predict on a 32-bit integer TIFF beyond the 16-bit range",
         _predict_on(_tiff(np.array([[0, 100_000]], np.int32)), "int32.tif"),
         "32-bit integer pixels from 0 to 100000"),
    Case("compare_results_other_config", "`compare --strict` with a results.json beside another run's config.yaml",
         _results_beside_another_config, "case2/results.json: written under another config.yaml"),
]

FOLDER = {"name": "folder", "image_size": 16, "resize": 16, "workers": 0}
CASES += [
    Case("folder_no_path", "`data.name: folder` without data.path",
         lambda e: ["train", e.config(data=FOLDER, model={"name": "mlp", "in_features": 768})], "needs data.path"),
    Case("folder_missing", "a data.path that does not exist",
         lambda e: ["train", e.config(data={**FOLDER, "path": str(e.tmp / "nowhere")},
                                      model={"name": "mlp", "in_features": 768})], "nowhere: not found"),
    Case("imagenet_missing", "ImageNet not under the data root",
         lambda e: ["train", e.config(data={"name": "imagenet", "root": str(e.tmp), "workers": 0},
                                      model={"name": "resnet18"})], "imagenet: not found"),
    Case("mixup_streamed", "data.mixup on images streamed from folders",
         lambda e: ["train", e.config(data={**FOLDER, "path": str(e.tmp), "mixup": 0.8},
                                      model={"name": "mlp", "in_features": 768})], "data.mixup must be 0 unless"),
    Case("accumulate_batch", "a batch that micro-batches cannot split",
         lambda e: ["train", e.config(), "--set", "trainer.accumulate=3"], "a multiple of trainer.accumulate"),
]


def _subword_config(e: Env, model: Callable[[Path], Path]) -> list[str]:
    """A tiny ja->en Transformer config whose source tokenizer is the SentencePiece model `model` writes."""
    root = write_tiny_corpus(e.tmp / "enja")
    path = model(e.tmp)
    return ["train", e.config(task="seq2seq", data={"name": "small_parallel_enja", "root": str(root), "min_freq": 1,
                                                    "subword_model": str(path)},
                              model={"name": "transformer", "d_model": 16, "heads": 2, "d_ff": 16,
                                     "encoder_layers": 1, "decoder_layers": 1})]


def _damaged_model(tmp: Path) -> Path:
    (tmp / "damaged.model").write_bytes(b"\x00\x01 not a SentencePiece model" * 8)
    return tmp / "damaged.model"


def _english_model(tmp: Path) -> Path:
    from milestones.data.subword import train_subwords

    (tmp / "en.model").write_bytes(train_subwords(["he is tall .", "i am a student .", "i like cats ."] * 5, "en", 20))
    return tmp / "en.model"


CASES += [
    Case("subword_model_missing", "a SentencePiece model file that does not exist",
         lambda e: _subword_config(e, lambda tmp: tmp / "missing.model"), "SentencePiece model not found"),
    Case("subword_model_damaged", "a damaged SentencePiece model file",
         lambda e: _subword_config(e, _damaged_model), "not a SentencePiece model"),
    Case("subword_model_other_language", "a SentencePiece model for another language (English, for ja->en)",
         lambda e: _subword_config(e, _english_model), "a SentencePiece model for another language?"),
]


def _edited(env: Env, old: str, new: str) -> str:
    """The seconds-long config with `old` replaced once by `new` in its text (were it not refused, it would train
    seconds in <tmp>, not the full data set in ./runs)."""
    path = Path(env.config())
    text = path.read_text()
    assert text.count(old) == 1, text
    path.write_text(text.replace(old, new))
    return str(path)


def _config_a_list(env: Env) -> list[str]:
    env.trained()
    shutil.copytree(env.tmp / "runs" / "case", env.tmp / "runs" / "case2")
    (env.tmp / "runs" / "case2" / "config.yaml").write_text("- model\n- data\n")
    return ["compare", "--runs", str(env.tmp / "runs"), "--strict"]


def _publish_case(finish: dict, damage: Callable[[Path], None] = lambda run: None) -> Callable:
    """`zoo publish` of a run trained with `finish` trainer settings and then `damage`d; the zoo is a copy."""
    def argv(e: Env, monkeypatch) -> list[str]:
        _zoo_copy(e, monkeypatch, lambda folder, registry: None)
        assert main(["train", e.config(trainer={"epochs": 2, **finish})]) == 0
        damage(e.tmp / "runs" / "case")
        return ["zoo", "publish", str(e.tmp / "runs" / "case"), "case_mnist", "--why", "a test"]
    return argv


CASES += [
    Case("yaml_duplicate_key", "a section given twice (YAML keeps the second silently)",
         lambda e: ["train", _edited(e, "\ntrainer:", "\ntrainer: {epochs: 2}\ntrainer:")],
         "duplicate key 'trainer' at lines 12 and 13"),
    Case("yaml11_leading_zero", "`--set` of a leading-zero integer (YAML 1.1: octal 10; YAML 1.2: 12)",
         lambda e: ["train", e.config(), "--set", "trainer.batch_size=012"],
         "trainer.batch_size: 012 is read as 10 by YAML 1.1 and as 12 by YAML 1.2; write 12, or '012'"),
    Case("yaml11_sexagesimal", "a sexagesimal number in a file (`epochs: 1:30`, YAML 1.1: 90)",
         lambda e: ["train", _edited(e, "epochs: 1", "epochs: 1:30")],
         "trainer.epochs: 1:30 (line 14) is read as 90 by YAML 1.1 and as a string by YAML 1.2; write 90"),
    Case("yaml_hex", "a hexadecimal learning rate (`optim.lr=0x10`)",
         lambda e: ["train", e.config(), "--set", "optim.lr=0x10"], "optim.lr: 0x10 is read as 16"),
    Case("lr_float32", "a learning rate beyond float32 (`1e39`)",
         lambda e: ["train", e.config(), "--set", "optim.lr=1e39"], "optim.lr must be at most 3.403e+38 in size"),
    Case("tour_minutes_nan", "`tour --minutes nan`", lambda e: ["tour", "--minutes", "nan"],
         "--minutes must be a finite number > 0, got nan"),
    Case("tour_minutes_inf", "`tour --minutes inf`", lambda e: ["tour", "--minutes", "inf"],
         "--minutes must be a finite number > 0, got inf"),
    Case("budget_nan", "`compare --budget-minutes nan`",
         lambda e: ["compare", "--suite", "quick", "--budget-minutes", "nan"],
         "--budget-minutes must be a finite number > 0, got nan"),
    Case("alpha_nan", "`translate --alpha nan`",
         lambda e: ["translate", "--checkpoint", e.translator(), "彼", "--beam", "2", "--alpha", "nan"],
         "--alpha must be a finite number"),
    Case("compare_config_list", "`compare --strict` with a run folder whose config.yaml is a YAML list",
         _config_a_list, "case2/config.yaml: not a config (a YAML list, not a mapping of sections)"),
    Case("ckpt_other_data", "eval of an MNIST checkpoint with a Fashion-MNIST config",
         lambda e: ["eval", (e.trained(), e.config(data={"name": "fashion_mnist"}))[1], "--checkpoint", e.checkpoint],
         "trained on mnist, the config evaluates on fashion_mnist"),
    Case("weights_other_data", "eval of MNIST weights on Fashion-MNIST (`--set data.name=fashion_mnist`)",
         lambda e: ["eval", "--weights", "lenet5_mnist", "--data", str(e.data), "--set", "data.name=fashion_mnist",
                    "--set", "data.test_size=100"], "trained on other classes (0, 1, 2, ...) than this config's data"),
    Case("publish_unfinished", "`zoo publish` of a run stopped mid-schedule (trainer.stop_epoch)",
         _publish_case({"stop_epoch": 1}), "after epoch 1 of 2, the run has not finished"),
    Case("publish_no_results", "`zoo publish` of a run folder without results.json",
         _publish_case({}, lambda run: (run / "results.json").unlink()), "no results.json, so the run has not finished"),
]


def _export_into_a_full_folder(e: Env) -> list[str]:
    (e.tmp / "hub").mkdir()
    (e.tmp / "hub" / "notes.txt").write_text("mine")
    return ["zoo", "export", "lenet5_mnist", str(e.tmp / "hub")]


def _export_under_a_read_only_folder(e: Env, monkeypatch) -> list[str]:
    parent = e.tmp / "read_only"
    parent.mkdir()
    parent.chmod(0o555)
    if os.geteuid() == 0:  # root writes into any folder: refuse as the system refuses every other user
        def refuse(path, *args, **kwargs):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        monkeypatch.setattr(os, "mkdir", refuse)
    return ["zoo", "export", "lenet5_mnist", str(parent / "hub")]


CASES += [
    Case("export_not_empty", "`zoo export` into a folder that holds a file already (without --overwrite)",
         _export_into_a_full_folder, "not empty; export into a new or empty folder, or add --overwrite"),
    Case("export_read_only", "`zoo export` into a new folder under a read-only folder",
         _export_under_a_read_only_folder, "cannot create it (Permission denied)"),
    Case("export_no_parent", "`zoo export` into a folder whose parent does not exist",
         lambda e: ["zoo", "export", "lenet5_mnist", str(e.tmp / "missing" / "hub")], "<tmp>/missing: no such folder"),
    Case("export_unknown", "`zoo export` of an entry that does not exist",
         lambda e: ["zoo", "export", "lenet_mnist", str(e.tmp / "hub")], "did you mean 'lenet5_mnist'?"),
]

def _normalise(message: str, env: Env) -> str:
    return (message.replace(str(env.tmp), "<tmp>").replace(str(env.data), "<data>")
            .replace(str(REPO), "<repo>"))  # the checkout's own path (a fresh clone's differs)


def _doc_rows() -> dict[str, str]:
    rows = {}
    if DOC.is_file():
        for line in DOC.read_text(encoding="utf-8").splitlines():
            m = re.match(r"\| `([a-z0-9_]+)` \| .* \| `(.*)` \|$", line)
            if m:
                rows[m.group(1)] = m.group(2).replace("\\|", "|")
    return rows


def _write_doc_row(case: Case, message: str) -> None:
    rows = _doc_rows()
    rows[case.id] = message
    head = ("# Bad input: every case and its message\n\n"
            "Each row is a test in `tests/test_bad_input.py`: the command exits with status 2 and prints this one "
            "line on stderr (no traceback). The tests check the messages against this table; regenerate it with "
            "`MILESTONES_WRITE_DOCS=1 python -m pytest tests/test_bad_input.py`. `<tmp>` is a temporary folder, "
            "`<data>` the data root.\n\n"
            f"{len(CASES)} cases.\n\n| case | bad input | message |\n|---|---|---|\n")
    body = "".join(f"| `{c.id}` | {c.what} | `{rows.get(c.id, '(not generated yet)').replace('|', chr(92) + '|')}` |\n"
                   for c in CASES)
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(head + body, encoding="utf-8")


def test_there_are_at_least_25_cases_with_unique_ids():
    assert len(CASES) >= 25 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_and_exit_2(case, tmp_path, data_root, capsys, monkeypatch, one_thread):
    if case.needs_no_gpu and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    env = Env(tmp_path, data_root)
    argv = case.argv(env, monkeypatch) if case.argv.__code__.co_argcount == 2 else case.argv(env)
    capsys.readouterr()  # what setting up the case printed
    try:
        code = main(argv)
    finally:
        forget_registry()  # a case's zoo copy is not the next case's
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("milestones: error: "), err
    message = _normalise(lines[0][len("milestones: error: "):], env)
    assert case.expect in message
    if WRITE_DOCS:
        _write_doc_row(case, message)
    else:
        documented = _doc_rows().get(case.id, "")
        if case.quotes_torch:  # compare up to the quoted part
            documented, message = documented.split(": (")[0].split(" (")[0], message.split(": (")[0].split(" (")[0]
        assert documented == message, (
            f"docs/bad_input.md is out of date for '{case.id}': regenerate it (see this file's docstring)")

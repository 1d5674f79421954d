"""Experiment configs as typed dataclasses: every key of a config file, its type, its default, and whether it
changes a result (config.py builds and checks a Config from a dict; configfile.py reads the files).

One YAML file describes one experiment. Its sections map one-to-one onto code:

    model:     `name` picks the model builder, every other key is a keyword argument of that builder
    data:      which data set, where it lives, splits and augmentation
    optim:     the optimizer's arguments
    schedule:  the learning-rate schedule (stepped once per iteration)
    trainer:   epochs, batch size, device, precision, ...
    seed, name, output_dir, task at the top level
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal, Optional, Union

# Field metadata for the keys that may differ between a run and its resumption. NO_RESULT: where things live and
# how they are shown, saved or scored, which changes no trained number: left out of `Config.hash`. RESUMABLE: how
# long and on what, which does change the numbers (and the hash) but may change when a run is continued.
NO_RESULT = {"changes_result": False}
RESUMABLE = {"resumable": True}


@dataclass
class ModelConfig:
    name: str = ""
    args: dict = field(default_factory=dict)  # the builder's keyword arguments (every key of `model:` but these)
    # a zoo entry to start from (`milestones zoo`; "DEFAULT" or a tag of the model's, saved as the entry's name):
    # its weights are loaded before training, every tensor but a classifier head for other classes than its own
    # (models.create_model); the channels must be its own, and so is the normalisation unless data.mean/std say
    weights: Optional[str] = None


@dataclass
class DataConfig:
    name: str = "mnist"  # a key of milestones/data/datasets.py's DATASETS, which says everything else about it
    # where the data lives: data.root, else $MILESTONES_DATA, else ./data (never written to); where decoded
    # class-folder images are cached: else $MILESTONES_CACHE, else ~/.cache/milestones
    root: Optional[str] = field(default=None, metadata=NO_RESULT)
    cache_dir: Optional[str] = field(default=None, metadata=NO_RESULT)
    download: bool = field(default=True, metadata=NO_RESULT)  # try torchvision's download when the files are missing
    val_size: int = 0  # images held out of the training set for validation (He et al.: 5000 of CIFAR-10)
    train_size: Optional[int] = None  # use a random subset of the (remaining) training set; adding: sequences/epoch
    test_size: Optional[int] = None  # use a fixed random N of the test images / pairs / sequences (quick checks)
    crop_padding: int = 0  # random crop after zero-padding by this many pixels (0 = no crop)
    flip: bool = False  # random horizontal flip
    alternate_flip: bool = False  # with flip: mirror each image in every other epoch, from a random start (airbench)
    # training batches mixed with partners (data/batches.py): mixup and CutMix alphas, 0 = off; both: one per batch
    mixup: float = 0.0
    cutmix: float = 0.0
    # per-channel normalisation, in [0, 1] units; default: the data set's own training-set statistics. Imported
    # weights set what they were trained with (akamaster's CIFAR ResNets: the ImageNet values)
    mean: Optional[list[float]] = None
    std: Optional[list[float]] = None
    # streamed image folders (imagenet, folder: milestones/data/folders.py)
    path: Optional[str] = field(default=None, metadata=NO_RESULT)  # the tree; imagenet's default: <root>/imagenet
    image_size: int = 224  # training crops and evaluation centre crops, square
    resize: int = 256  # evaluation: the shorter side is resized to this, then centre-cropped to image_size
    val_fraction: float = 0.1  # folder: held out for evaluation when the tree has no train/ and val/
    # decoding processes (0: in the training process), at most the cores this process may use
    workers: int = field(default=4, metadata=NO_RESULT)
    # your own sentence pairs (data.name: pairs): data.path is a TSV file (source TAB target), or these two are
    # line-aligned files; data.val_fraction of the pairs is held out for validation and as much for testing
    source_file: Optional[str] = field(default=None, metadata=NO_RESULT)
    target_file: Optional[str] = field(default=None, metadata=NO_RESULT)
    # pairs: [source, target] language codes ("ja" is read as characters, any other as words); default: those of
    # the model.weights it fine-tunes
    languages: Optional[list[str]] = None
    seq_len: int = 100  # adding problem: the minimal sequence length T (Hochreiter & Schmidhuber 1997, Sec. 5.4)
    min_freq: int = 2  # translation: a token seen fewer times in the training text is <unk>
    max_len: int = 50  # translation: training pairs with more tokens than this on either side are left out
    # translation: SentencePiece subwords of this vocabulary size for the source, trained on the training sources
    # (0: characters for Japanese, words otherwise); or a SentencePiece .model file (milestones/data/subword.py)
    subwords: int = 0
    subword_model: Optional[str] = None


@dataclass
class OptimConfig:
    name: Literal["sgd", "adamw"] = "sgd"
    lr: float = 0.1
    momentum: float = 0.9  # sgd
    nesterov: bool = False  # sgd
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # adamw
    # the global batch `lr` is meant for: with another trainer.batch_size the lr scales linearly, lr * batch /
    # lr_batch (Goyal et al. 2017, arXiv:1706.02677, Sec. 2.1); null: lr as written
    lr_batch: Optional[int] = None


@dataclass
class ScheduleConfig:
    name: Literal["constant", "multistep", "cosine", "onecycle", "inverse_sqrt"] = "constant"
    warmup_epochs: float = 0.0  # linear warm-up from 0, before the schedule (all but onecycle)
    milestones: list[float] = field(default_factory=list)  # multistep: epochs at which lr *= gamma
    gamma: float = 0.1  # multistep
    min_lr_ratio: float = 0.0  # cosine: final lr as a fraction of the peak
    pct_start: float = 0.25  # onecycle: fraction of training spent rising to the peak
    div_factor: float = 25.0  # onecycle: start lr = peak / div_factor
    final_div_factor: float = 1e4  # onecycle: final lr = start lr / final_div_factor


@dataclass
class TrainerConfig:
    epochs: int = field(default=1, metadata=RESUMABLE)  # the length of the schedule
    # end this invocation after this epoch (the schedule still spans `epochs`)
    stop_epoch: Optional[int] = field(default=None, metadata=RESUMABLE)
    batch_size: int = 128
    eval_batch_size: int = 1000
    # evaluate after every N-th epoch and after the last (time-budgeted CPU runs skip some)
    eval_every: int = field(default=1, metadata=NO_RESULT)
    device: Literal["auto", "cpu", "cuda"] = field(default="auto", metadata=RESUMABLE)
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # bf16/fp16: autocast; fp16 (CUDA only) adds a grad scaler
    channels_last: bool = False  # NHWC memory layout for convnets
    compile: bool = False  # torch.compile the model (falls back to eager, with a message, where it cannot)
    # with compile: torch.compile's mode; "reduce-overhead" replays the step's kernels as CUDA graphs on a GPU (one
    # launch for the many small kernels of a small net at batch 128), "max-autotune" also searches kernel choices
    compile_mode: Literal["default", "reduce-overhead", "max-autotune"] = "default"
    # on a GPU: cuDNN times its convolution algorithms for each new input shape and keeps the fastest (torchvision's
    # references do, unless asked for determinism); grouped convolutions (packed nets) most need it. Left out of
    # the hash: it changes only which kernels round, and GPU convolutions' backward is not bitwise repeatable anyway
    cudnn_benchmark: bool = field(default=True, metadata=NO_RESULT)
    label_smoothing: float = 0.0
    test_flip: bool = False  # classification: evaluate on the mean logits of each image and its mirror
    test_shift: int = 0  # classification: also on those views moved diagonally by +-N pixels (black borders)
    # seq2seq: also score the final test BLEU with beam search of this size (Vaswani et al.: 4)
    beam: int = field(default=1, metadata=NO_RESULT)
    # seq2seq: also score test pairs joined 1, 2, ..., N at a time, for BLEU against source length (0: off)
    length_stress: int = field(default=0, metadata=NO_RESULT)
    grad_clip: Optional[float] = None  # max global gradient norm
    # test the weights of the epoch with the best validation loss / accuracy instead of the last epoch's (needs a
    # validation split: data.val_size for images; the translation corpora have their own). bentrevett's seq2seq
    # tutorials keep the best validation loss
    keep_best: Optional[Literal["val_loss", "val_acc"]] = None
    # torch.set_num_threads on CPU (null: torch's default); "auto": what other processes leave of the cores, polled
    # while training (runtime.AutoThreads: for shared machines; results then vary in the last bits with the load)
    threads: Optional[Union[int, Literal["auto"]]] = field(default=None, metadata=RESUMABLE)
    progress: bool = field(default=True, metadata=NO_RESULT)  # tqdm bars
    checkpoint: bool = field(default=True, metadata=NO_RESULT)  # write <run>/checkpoint.pt every epoch
    # classification: the global batch is reached in this many micro-batches, their gradients summed before each
    # optimizer step (for memory); the schedule counts optimizer steps
    accumulate: int = 1
    sync_bn: bool = False  # DDP: batch-norm statistics over the global batch, not each rank's
    # scalars to TensorBoard in <run>/tensorboard/ beside metrics.jsonl (the optional 'tensorboard' extra)
    tensorboard: bool = field(default=False, metadata=NO_RESULT)
    # "backbone": train the classifier head alone (the model's ModelInfo.head), every other weight and batch-norm
    # statistic kept as built or loaded (model.weights): timm's and torchvision's way to fit new classes cheaply
    freeze: Optional[Literal["backbone"]] = None


@dataclass
class Config:
    name: str = field(default="", metadata=NO_RESULT)  # run name; defaults to the config file's stem
    # a key of milestones.tasks.TASKS; None: the data set's (milestones/data/datasets.py), the only one that fits it
    task: Optional[str] = None
    seed: int = 0
    output_dir: str = field(default="runs", metadata=NO_RESULT)  # runs go to <output_dir>/<name>
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    @property
    def run_dir(self) -> Path:
        """<output_dir>/<name>, resolved to an absolute path (messages and logs name it in full)."""
        return (Path(self.output_dir).expanduser() / self.name).resolve()

    def to_dict(self) -> dict:
        """Plain dict in the YAML file's shape (model args flattened beside `name`)."""
        d = dataclasses.asdict(self)
        d["model"] = {"name": self.model.name, **({"weights": self.model.weights} if self.model.weights else {}),
                      **self.model.args}
        return json.loads(json.dumps(d))  # tuples -> lists, so that yaml.safe_dump and torch.load(weights_only) take it

    def hash(self) -> str:
        """Short hash of what determines the result: every key but the NO_RESULT ones (the run name, output
        folder, data paths, progress bars, how often it is evaluated and saved, the extra beam score)."""
        d = self.to_dict()
        for key in marked_keys(NO_RESULT):
            *sections, last = key.split(".")
            node = d
            for s in sections:
                node = node[s]
            node.pop(last)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


def leaves(obj: Any, prefix: str = "") -> Iterator[tuple[str, dataclasses.Field, Any]]:
    """(dotted key, field, value) of every field below the config's sections, e.g. ("trainer.beam", ..., 1)."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            yield from leaves(value, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", f, value


def marked_keys(*marks: dict) -> set[str]:
    """The dotted names of the Config fields whose metadata is one of `marks` (e.g. {"trainer.beam", ...})."""
    return {key for key, f, _ in leaves(Config()) if any(f.metadata == m for m in marks)}

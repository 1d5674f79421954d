"""The suites `milestones compare --suite NAME` trains: which configs, with which overrides, and how they run.

    milestones compare --suite quick                train the quick suite (2 CPU cores, 3 seeds), then gather it
    milestones compare --suite full --seeds 1       the paper-faithful GPU configs
    milestones compare --suite paper --pack 10 --budget-minutes 12    every headline claim on one GPU, planned
    milestones compare --suite paper --scale 0.002 --seeds 1          the same suite shrunk to minutes on a CPU
    milestones compare --suite degradation --seeds 1 --set trainer.epochs=3 --set data.train_size=10000

A suite is a list of (config under configs/, overrides); its runs go to runs/suite_<name>/, one per config and
seed, and compare.py gathers them into the leaderboard, the claims and the plots. A suite skips a run whose
results.json already exists, so an interrupted suite continues where it stopped.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Optional

from .config import Config
from .configfile import CONFIG_DIR, load_config, with_overrides
from .data.datasets import DATASETS
from .errors import ConfigError, MilestonesError
from .pack import fit_packed
from .planner import Planned, group_packs, make_plan, plan_table
from .runs import experiment_key, load_run
from .train import fit

# What a suite trains: (config under configs/, overrides). Quick: sized for 2 CPU cores, about 10 minutes a seed
# (measured times are in RESULTS.md); each run is far shorter than its paper's schedule, and the table says so.
SUITES: dict[str, list[tuple[str, list[str]]]] = {
    "quick": [  # warm-ups shortened to fit the short schedules (the configs' own span 1-2 epochs)
        ("mlp_mnist.yaml", ["trainer.epochs=3"]),
        ("lenet5_mnist.yaml", ["trainer.epochs=2"]),
        ("mlp_cifar10.yaml", ["trainer.epochs=3"]),
        ("alexnet_cifar10_cpu.yaml", ["trainer.epochs=3", "schedule.warmup_epochs=0.3"]),
        ("resnet20_cifar10_cpu.yaml", ["trainer.epochs=2", "schedule.warmup_epochs=0.2"]),
        ("vit_tiny_cifar10_cpu.yaml", ["trainer.epochs=1", "schedule.warmup_epochs=0.1"]),
        ("rnn_adding_t50.yaml", []),
        ("lstm_adding_t50.yaml", []),
        ("lstm_seq2seq_enja_cpu.yaml", ["trainer.epochs=1", "data.train_size=10000", "schedule.warmup_epochs=0.1"]),
        ("rnnsearch_enja_cpu.yaml", ["trainer.epochs=1", "data.train_size=10000", "schedule.warmup_epochs=0.1"]),
        ("transformer_enja_cpu.yaml", ["trainer.epochs=1", "data.train_size=10000", "schedule.warmup_epochs=0.3",
                                       "trainer.beam=1"]),  # greedy only: beam decoding would add ~1 min a seed
    ],
    "full": [  # the papers' schedules: GPU runs
        ("resnet20_cifar10_gpu.yaml", []), ("resnet56_cifar10_gpu.yaml", []), ("resnet110_cifar10_gpu.yaml", []),
        ("plain20_cifar10_gpu.yaml", []), ("plain56_cifar10_gpu.yaml", []),
        ("lstm_adding_t100.yaml", []), ("rnn_adding_t100.yaml", []),
        ("lstm_seq2seq_multi30k_gpu.yaml", []), ("rnnsearch_multi30k_gpu.yaml", []),
        ("transformer_multi30k_gpu.yaml", []),
    ],
}
# He et al. 2015, Table 6 and Fig. 6: ResNet-20/32/44/56/110 and plain-20/32/44/56 (Fig. 6 has no plain-110), the
# paper's recipe (64k iterations at batch 128, lr 0.1 / 10 at 32k and 48k, 45k/5k split; depth 110 with the
# warm-up of resnet110_cifar10_gpu.yaml); `--pack N` trains each depth's nets as one packed net (pack.py),
# `--budget-minutes` plans what fits (planner.py)
SUITES["table6"] = [*(("resnet20_cifar10_gpu.yaml", [f"model.name={kind}{depth}"])
                      for depth in (20, 32, 44, 56) for kind in ("resnet", "plain")),
                    ("resnet110_cifar10_gpu.yaml", [])]
# Dosovitskiy et al. 2020's data claim at CIFAR scale: ViT-Tiny/4 and ResNet-20 on 10%, 30% and 100% of the 45k
# training images, each with its own recipe (ResNet-20's 100% is Table 6's run)
SUITES["vit_data"] = [(config, [f"data.train_size={n}"] if n < 45_000 else [])
                      for config in ("resnet20_cifar10_gpu.yaml", "vit_tiny_cifar10_gpu.yaml")
                      for n in (4_500, 13_500, 45_000)]
# the image eras at full length: AlexNet-32 against the MLP at the same 90 epochs
SUITES["eras"] = [("alexnet_cifar10_gpu.yaml", []), ("mlp_cifar10.yaml", ["trainer.epochs=90", "data.val_size=5000"])]
# the sequence eras at the papers' sizes, on Multi30k
SUITES["translators"] = [("lstm_seq2seq_multi30k_gpu.yaml", []), ("rnnsearch_multi30k_gpu.yaml", []),
                         ("transformer_multi30k_gpu.yaml", [])]
# every headline claim, the Table 6 packs first: what a GPU window cannot hold is named by the planner
SUITES["paper"] = [*SUITES["table6"], *SUITES["vit_data"], *SUITES["eras"], *SUITES["translators"]]

# The CPU experiments of RESULTS.md, once scripts of their own (scripts/exp_*.py), as suites: the same configs and
# overrides those scripts trained, so `--seeds 1` repeats a RESULTS.md run (seed 0, each config's own).
# He et al.'s Fig. 6 claim with one recipe for all four nets, only the model changing (degradation_cifar10_cpu.yaml:
# the paper's first phase, lr 0.1 constant); RESULTS.md's run adds --set trainer.epochs=3 --set data.train_size=10000
FIG6_NETS = ("plain20", "plain56", "resnet20", "resnet56")
SUITES["degradation"] = [("degradation_cifar10_cpu.yaml", [f"model.name={net}"]) for net in FIG6_NETS]
# the same four nets with the paper's own recipe (45k/5k split, lr / 10 twice), its schedule shortened with --set
# (RESULTS.md, "Fig. 6 at 1/12 of the paper's schedule"); fig6_residual: the residual pair alone ("at 1/6")
SUITES["fig6"] = [("resnet20_cifar10_gpu.yaml", [f"model.name={net}"]) for net in FIG6_NETS]
SUITES["fig6_residual"] = [("resnet20_cifar10_gpu.yaml", [f"model.name={net}"]) for net in ("resnet20", "resnet56")]
# MLP against the 2012 convnet on CIFAR-10 photos for the same wall-clock budget: the epochs a 15-minute budget gave
# each on 2 CPU cores (measured training speed; RESULTS.md, "MLP vs CNN 2012 on photos"); warm-ups as the configs'
SUITES["mlp_vs_cnn"] = [("mlp_cifar10.yaml", ["trainer.epochs=70"]),
                        ("alexnet_cifar10_cpu.yaml", ["trainer.epochs=35"])]
# ViT's hunger for data at CPU scale: ViT-Tiny/4 and ResNet-20 (CPU recipes) on fixed 10/30/100% subsets of 49,000
# training images, 1,000 held out, each for the epochs a 2-minute budget gave it on 2 CPU cores, its warm-up cut to a
# tenth of them where the config's is longer (RESULTS.md, "ViT data-scale experiment"; 0.1 * epochs as computed)
SUITES["vit_data_cpu"] = [
    (config, ["data.val_size=1000", f"data.train_size={n}", f"trainer.epochs={epochs}",
              *([f"schedule.warmup_epochs={0.1 * epochs}"] if 0.1 * epochs < warmup else [])])
    for config, warmup, runs in (("vit_tiny_cifar10_cpu.yaml", 2, ((4_900, 6), (14_700, 1), (49_000, 1))),
                                 ("resnet20_cifar10_cpu.yaml", 1, ((4_900, 21), (14_700, 7), (49_000, 2))))
    for n, epochs in runs]


def suite_configs(suite: str, seeds: int, output_dir: Path, overrides: list[str],
                  scale: Optional[float] = None) -> list[Config]:
    """The suite's configs, `seeds` of each, named <config or model>[_n<train_size>]_seed<seed> (_n where one
    config runs on several training-set sizes); a run that two
    parts of a suite share (ResNet-20 in Table 6 and in the ViT data study) is listed once. With `scale`, each at
    that fraction of its schedule and data (scale_config)."""
    if suite not in SUITES:
        raise ConfigError(f"unknown suite '{suite}' (known: {', '.join(SUITES)})")
    cfgs: dict[str, Config] = {}
    files = [name for name, _ in SUITES[suite]]
    for name, extra in SUITES[suite]:
        for seed in range(seeds):
            stem = Path(name).stem
            model = next((e.split("=", 1)[1] for e in extra if e.startswith("model.name=")), None)
            if model is not None:  # one config file, several models (the paper suite): named by the model
                stem = f"{model}_{stem.split('_', 1)[1]}"
            size = next((e.split("=", 1)[1] for e in extra if e.startswith("data.train_size=")), None)
            if size is not None and files.count(name) > 1:  # one config file on several data sizes (vit_data)
                stem += f"_n{size}"
            cfg = load_config(CONFIG_DIR / name, [*extra, *overrides, f"seed={seed}", f"name={stem}_seed{seed}",
                                                  f"output_dir={output_dir}"])
            cfgs[cfg.name] = cfg if scale is None else scale_config(cfg, scale)
    return list(cfgs.values())


def full_sizes(cfg: Config) -> tuple[int, int]:
    """(training examples, test examples) of `cfg`'s data set, before any data.train_size / test_size."""
    d, info = cfg.data, DATASETS[cfg.data.name]
    if info.train_size is not None and info.test_size is not None:
        return info.train_size - d.val_size, info.test_size
    raise ConfigError(f"{cfg.name}: --scale cannot shrink data.name '{d.name}' (its size is not known)")


def scale_config(cfg: Config, scale: float) -> Config:
    """`cfg` at `scale` of the paper's length (`--scale`, e.g. 0.002 to see a GPU suite work on a CPU): epochs (at
    least 1) and the epochs named in its schedule shrink in proportion; the training set (data.train_size if set,
    else the whole) by `scale`, or by more where the whole set would keep fewer than two batches, so subsets keep
    their proportions (the ViT data study); the validation split and the test set by `scale`, keeping one
    evaluation batch. The model, optimizer and batch size stay the paper's. The scale is in the config (and its
    hash), so a scaled run is never taken for a finished full-size one."""
    if not 0 < scale <= 1:
        raise ConfigError(f"--scale must be in (0, 1], got {scale:g}")
    t, d, s = cfg.trainer, cfg.data, cfg.schedule
    epochs = max(1, round(t.epochs * scale))
    k = epochs / t.epochs
    train, test = full_sizes(cfg)
    data_scale = min(1.0, max(scale, 2 * t.batch_size / train))
    return with_overrides(
        cfg,
        trainer={"epochs": epochs, "stop_epoch": None if t.stop_epoch is None else max(1, round(t.stop_epoch * k))},
        schedule={"warmup_epochs": s.warmup_epochs * k, "milestones": [m * k for m in s.milestones]},
        data={"train_size": math.ceil((d.train_size or train) * data_scale),
              "val_size": d.val_size and min(d.val_size, max(t.eval_batch_size, math.ceil(d.val_size * scale))),
              "test_size": min(d.test_size or test, max(t.eval_batch_size, math.ceil((d.test_size or test) * scale)))})


def run_suite(suite: str, seeds: int, output_dir: Path, overrides: list[str], *, pack: int = 1,
              budget_minutes: Optional[float] = None, scale: Optional[float] = None) -> list[str]:
    """Train every (config, seed) of the suite that has not finished yet: one at a time, or with `pack` > 1 the
    runs that pack (CIFAR ResNets and plain nets of one depth) `pack` at a time as one packed net. With
    `budget_minutes`, the plan (each pack's and run's estimate, and what the planner expects to fit) is printed
    before the first starts; then, in the plan's order, each starts only if its estimate fits what is left of the
    budget at its turn (the budget runs from the start, planning included): a plan that ran long leaves its last
    packs out, one that ran short takes in packs it had left out, and what never started is named at the end. A
    run or pack that fails (e.g. diverges) is reported and the suite goes on; returns those failures, one line each.
    """
    if budget_minutes is not None and not (math.isfinite(budget_minutes) and budget_minutes > 0):
        raise ConfigError(f"--budget-minutes must be a finite number > 0, got {budget_minutes:g}")
    start = time.monotonic()  # the budget counts the planning's timed steps too
    command = (f"milestones compare --suite {suite} --seeds {seeds}" + (f" --pack {pack}" if pack > 1 else "")
               + (f" --scale {scale:g}" if scale is not None else ""))
    todo = []
    for cfg in suite_configs(suite, seeds, output_dir, overrides, scale):
        done = load_run(cfg.run_dir)
        if done is not None and experiment_key(done.config) == experiment_key(cfg) and done.config.seed == cfg.seed:
            print(f"{cfg.name}: finished earlier, kept")
        else:
            todo.append(cfg)
    budget = None if budget_minutes is None else budget_minutes * 60
    if pack == 1 and budget is None:
        plan = [Planned([cfg], False, None, True) for cfg in todo]
    else:
        plan = make_plan(group_packs(todo, pack), budget, started=start)
        print(plan_table(plan, budget) + f"planning took {time.monotonic() - start:.0f} s of it\n")
    failures, late = [], []
    for i, p in enumerate(plan, 1):
        left = None if budget is None else budget - (time.monotonic() - start)
        if left is not None and p.seconds is not None and p.seconds > left:  # earlier runs (or the planning) ran long
            late.append(p.label)
            if p.fits:
                print(f"[{i}/{len(plan)}] {p.label}: not started, {left / 60:.1f} min of the budget left "
                      f"(estimated {p.seconds / 60:.1f})")
            continue
        print(f"[{i}/{len(plan)}] {p.label}" + ("" if p.fits else f" (planned out, but {left / 60:.1f} min are left)"))
        try:
            if p.packed:
                fit_packed(p.cfgs, overwrite=True, command=command)
            else:
                fit(p.cfgs[0], overwrite=True, command=command)
        except MilestonesError as e:  # one failed run or pack does not cost the rest of a GPU window
            failures.append(str(e))
            print(f"milestones: warning: {e}", file=sys.stderr)
    if late:
        print(f"left out for time: {len(late)} planned pack(s) or run(s) did not start inside the budget: "
              f"{'; '.join(late)}")
    return failures

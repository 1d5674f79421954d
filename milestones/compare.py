"""Put the eras side by side: gather finished runs, average their seeds, set the papers' numbers beside ours.

    milestones compare --runs runs/                 gather every finished run under runs/ (any depth)
    milestones compare --suite quick                train the quick suite (2 CPU cores, 3 seeds), then gather it
    milestones compare --suite full --seeds 1       the paper-faithful GPU configs
    milestones compare --suite paper --pack 10 --budget-minutes 12    every headline claim on one GPU, planned
    milestones compare --suite paper --scale 0.002 --seeds 1          the same suite shrunk to minutes on a CPU

Writes into --output (default: <runs>/compare/ or runs/compare_<suite>/); the suites are defined and trained by
suites.py, the runs gathered by runs.py, the table written by leaderboard.py and the plots drawn by plots.py:
  leaderboard.md / leaderboard.csv   one row per experiment (config without its seed): era, year, model, data,
                                     parameters, metric as mean ± std over seeds, the paper's number and its
                                     source (milestones/papers.yaml), epochs, training time, hardware, torch, hash
  claims.md                          the story's claims (README), each checked by a stated rule against these
                                     runs: holds or not, with our numbers (claims.py)
  accuracy_by_era.png                test accuracy per image model, ordered by year (MLP -> CNN -> ResNet -> ViT)
  throughput_by_era.png              training throughput per model (images/s, sequences/s, target tokens/s)
  adding_curves.png                  adding problem: fraction solved per epoch, RNN against LSTM, per length T
  degradation.png                    plain and residual nets: training/test error per epoch (He et al. Fig. 6)
  accuracy_by_data_size.png          test accuracy against training images, per model (the ViT data study)
  bleu_by_length.png                 translators: test BLEU by source-sentence length (Bahdanau et al. Fig. 2)
A plot is written when its runs are there; matplotlib draws them (a dependency).

Runs of one config that differ only by seed are one row; a suite skips a run whose results.json already exists,
so an interrupted suite continues where it stopped.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .claims import write_claims
from .errors import MilestonesError
from .leaderboard import write_leaderboard
from .plots import write_plots
from .runs import find_runs, group


def compare(runs_dir: Path, out: Path, title: str, *, strict: bool = False) -> tuple[Path, Path, list[Path]]:
    """Gather the finished runs under `runs_dir` and write the leaderboard, the claims and the plots into `out`. A
    run folder that cannot be read is named in a warning and in the leaderboard's header; with `strict` it is an
    error instead."""
    runs, unreadable = find_runs(runs_dir)
    if unreadable and strict:
        raise MilestonesError(f"{len(unreadable)} run folder(s) under {runs_dir} cannot be read (--strict); the "
                              f"first: {unreadable[0]}")
    for why in unreadable:
        print(f"milestones: warning: left out: {why}", file=sys.stderr)
    entries = group(runs)
    table = write_leaderboard(entries, out, title, unreadable)
    return table, write_claims(entries, out), write_plots(entries, out)

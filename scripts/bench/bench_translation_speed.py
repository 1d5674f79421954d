"""Training throughput of the three translators on one device: target tokens/s on the real data (issue #4, exp. 3).

    python scripts/bench/bench_translation_speed.py [--data multi30k] [--device cuda] [--steps 30] [--set k=v ...]

The sequential RNNs (Sutskever et al. 2014; Bahdanau et al. 2015) against the parallel Transformer (Vaswani et al.
2017, Sec. 4: "the number of sequential operations"). Each model trains `--steps` batches of its own config
(configs/<model>_<data>_cpu.yaml: same data, vocabularies, batch size and precision) twice from the real loader,
and the second pass is timed, so data loading, masking and the optimizer step are counted. Finished runs report
the same quantity averaged over whole epochs (scripts/experiments/exp_translation.py); this script needs no finished run and
runs one model at a time, so nothing else shares the device.
"""

from __future__ import annotations

import argparse

import torch

from milestones import load_config
from milestones.leaderboard import markdown_table
from milestones.timing import measure_rate

MODELS = ["lstm_seq2seq", "rnnsearch", "transformer"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="multi30k", choices=["multi30k", "enja"])
    p.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--steps", type=int, default=30, help="timed training steps per model")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()

    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    rows = []
    for name in args.models:
        cfg = load_config(f"configs/{name}_{args.data}_cpu.yaml",
                          [f"trainer.device={args.device}", "trainer.progress=false", *args.overrides])
        rate = measure_rate(cfg, steps=args.steps)
        rows.append([name, cfg.trainer.batch_size, cfg.trainer.precision, f"{rate:,.0f}"])
        print(f"{name}: {rate:,.0f} target tokens/s", flush=True)
    print(f"\n{args.data}, {args.steps} timed steps per model after {args.steps} warm-up, {where}, torch "
          f"{torch.__version__}\n")
    print(markdown_table(["model", "batch (sentences)", "precision", "target tokens/s"], rows))


if __name__ == "__main__":
    main()

"""The command line: `milestones tour | train | eval | compare | list | translate` (also `python -m milestones ...`,
and `torchrun --nproc_per_node=N -m milestones train CONFIG` for DistributedDataParallel).

    milestones tour                                   every era, briefly, offline (under 5 minutes on 2 CPU cores)
    milestones compare --runs runs/                   leaderboard + plots of finished runs

    milestones translate --checkpoint runs/transformer_enja_cpu/checkpoint.pt "彼は背が高い。"
    milestones translate --checkpoint PATH --file sentences.txt --beam 4        (one sentence a line)
    echo "彼は背が高い。" | milestones translate --checkpoint PATH --attention attention.png

A mistake of the user's (a bad config, a missing data set, a wrong checkpoint, a sentence that cannot be
translated) prints one line `milestones: error: ...` and exits with status 2; Ctrl-C exits with 130 and keeps the
last checkpoint.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import sys
from pathlib import Path

from .compare import compare, run_suite
from .config import load_config
from .distributed import cleanup
from .errors import ConfigError, InputError, MilestonesError
from .models import list_models
from .tour import tour
from .train import evaluate_checkpoint, fit
from .translate import NO_MATPLOTLIB, load_translator, plot_attention, translate


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="milestones", description="Re-run the history of deep learning.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train the experiment a YAML config describes")
    t.add_argument("config", help="configs/<experiment>.yaml")
    t.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override config values, e.g. --set trainer.epochs=5 optim.lr=1e-3 (repeatable; values "
                   "parsed as YAML)")
    g = t.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    g.add_argument("--overwrite", action="store_true", help="start the run again even if its folder holds one")

    e = sub.add_parser("eval", help="test accuracy of a checkpoint")
    e.add_argument("config")
    e.add_argument("--checkpoint", required=True, metavar="PATH")
    e.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE")

    to = sub.add_parser("tour", help="train every era briefly, in the order of history, and compare them",
                        description="Train every era briefly, in the order of history, then print and write the "
                        "comparison. Offline by default, on the small samples shipped in the package.")
    to.add_argument("--data", metavar="DIR", help="a data root with MNIST, cifar10 and small_parallel_enja: the "
                    "tour on the full data sets")
    to.add_argument("--minutes", type=float, help="minutes of training in all, shared among the eras "
                    "(default: fixed short runs offline, 30 with --data)")
    to.add_argument("--output", default="runs/tour", metavar="DIR")
    to.add_argument("--seed", type=int, default=0)
    to.add_argument("--no-progress", action="store_true", help="no progress bars")

    c = sub.add_parser("compare", help="leaderboard (papers' numbers beside ours) and plots of finished runs or of "
                       "a suite", description="Gather finished runs (--runs) or train a named suite (--suite) and "
                       "write leaderboard.md, leaderboard.csv and PNG plots.")
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--runs", metavar="DIR", help="gather every finished run under DIR")
    src.add_argument("--suite", choices=["quick", "full"], help="quick: sized for 2 CPU cores; full: the papers' "
                     "schedules (GPU)")
    c.add_argument("--seeds", type=int, default=3, help="seeds per config in a suite (default 3)")
    c.add_argument("--strict", action="store_true", help="a run folder that cannot be read is an error (default: a "
                   "warning, and a line in the leaderboard)")
    c.add_argument("--output", metavar="DIR", help="default: DIR/compare, or runs/compare_<suite>")
    c.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override every suite config, e.g. --set trainer.device=cuda")

    ls = sub.add_parser("list", help="every model: era, year, paper, parameter count")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")

    tr = sub.add_parser("translate", help="translate sentences with a trained translation checkpoint",
                        description="Translate with a translation checkpoint (it carries its vocabularies). An empty "
                        "sentence, one the model knows no token of, or one longer than twice the longest training "
                        "source is refused with a one-line error (exit 2), never silently truncated.")
    tr.add_argument("sentences", nargs="*", help="sentences to translate (else --file, else one a line on stdin)")
    tr.add_argument("--checkpoint", required=True, metavar="PATH")
    tr.add_argument("--file", metavar="PATH", help="read sentences from a file, one a line (blank lines skipped)")
    tr.add_argument("--beam", type=int, default=1, metavar="N", help="beam size (1: greedy, the default)")
    tr.add_argument("--alpha", type=float, default=0.6, help="GNMT length penalty exponent for beam search")
    tr.add_argument("--attention", metavar="PNG", help="write the source x output attention heat map (rnnsearch, "
                    "transformer); with several sentences, PNG gets a -1, -2, ... suffix")
    return p


def _translate(args: argparse.Namespace) -> None:
    if args.file:
        try:
            sentences = [l for l in Path(args.file).read_text(encoding="utf-8").splitlines() if l.strip()]
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"{args.file}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    elif args.sentences:
        sentences = list(args.sentences)
    else:
        sentences = [l for l in sys.stdin.read().splitlines() if l.strip()]
    if not sentences:
        raise InputError("no sentence to translate (give one as an argument, --file, or lines on stdin)")
    if args.beam < 1:
        raise InputError(f"--beam must be >= 1, got {args.beam}")
    model, meta = load_translator(args.checkpoint)
    if args.attention:
        if not getattr(model, "has_attention", False):
            name = type(model).__name__
            raise ConfigError(f"--attention: this checkpoint's model ({name}) has no attention (the whole source "
                              f"passes through one vector); use an rnnsearch or transformer checkpoint")
        if importlib.util.find_spec("matplotlib") is None:  # say so before translating, not after
            raise ConfigError(NO_MATPLOTLIB)
    results = translate(model, meta, sentences, beam=args.beam, alpha=args.alpha)
    for t in results:
        print(t.text)
    if args.attention:
        out = Path(args.attention)
        for n, t in enumerate(results, 1):
            path = out if len(results) == 1 else out.with_name(f"{out.stem}-{n}{out.suffix}")
            readable = plot_attention(t, path, title=" ".join(t.tokens))
            print(f"attention map: {path}", file=sys.stderr)
            if not readable and n == 1:
                print("note: no CJK font installed, so Japanese labels show as boxes (e.g. apt install "
                      "fonts-noto-cjk)", file=sys.stderr)


def _compare(args: argparse.Namespace) -> None:
    if args.seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {args.seeds}")
    if args.suite:
        runs = Path("runs") / f"suite_{args.suite}"
        run_suite(args.suite, args.seeds, runs, args.overrides)
        out, title = Path(args.output or f"runs/compare_{args.suite}"), f"Leaderboard: the {args.suite} suite"
    else:
        runs = Path(args.runs)
        out, title = Path(args.output or runs / "compare"), f"Leaderboard: runs in {runs}"
    table, plots = compare(runs, out, title, strict=args.strict)
    print(table.read_text(encoding="utf-8"))
    print(f"written: {table}, {table.with_suffix('.csv')}" + "".join(f", {p}" for p in plots))


def _list(as_json: bool) -> None:
    rows = list_models()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'model':<16}{'era':<22}{'year':<6}{'params':>12}  paper")
    for r in rows:
        print(f"{r['name']:<16}{r['era']:<22}{r['year']:<6}{r['params']:>12,}  {r['paper']}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            _list(args.json)
            return 0
        if args.command == "translate":
            _translate(args)
            return 0
        if args.command == "tour":
            if args.minutes is not None and args.minutes <= 0:
                raise ConfigError(f"--minutes must be > 0, got {args.minutes:g}")
            tour(data_root=args.data, minutes=args.minutes, output_dir=args.output, seed=args.seed,
                 progress=not args.no_progress)
            return 0
        if args.command == "compare":
            _compare(args)
            return 0
        cfg = load_config(args.config, args.overrides)
        if args.command == "train":
            fit(cfg, resume=args.resume, overwrite=args.overwrite, command=shlex.join(["milestones", *argv]))
        elif args.command == "eval":
            m = evaluate_checkpoint(cfg, args.checkpoint)
            extra = {k: v for k, v in m.items() if k not in ("loss", "acc")}  # translation: BLEU, perplexity
            print(json.dumps({"checkpoint": args.checkpoint, "test_loss": m["loss"], "test_acc": m["acc"], **extra}))
        return 0
    except MilestonesError as e:
        print(f"milestones: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("milestones: interrupted; the last completed epoch's checkpoint is kept (--resume continues)",
              file=sys.stderr)
        return 130
    finally:
        cleanup()


if __name__ == "__main__":
    sys.exit(main())

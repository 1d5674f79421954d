"""The command line: `milestones train | eval | list` (also `python -m milestones ...`, and
`torchrun --nproc_per_node=N -m milestones train CONFIG` for DistributedDataParallel).

A mistake of the user's (a bad config, a missing data set, a wrong checkpoint) prints one line
`milestones: error: ...` and exits with status 2; Ctrl-C exits with 130 and keeps the last checkpoint.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from .errors import MilestonesError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="milestones", description="Re-run the history of deep learning.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train the experiment a YAML config describes")
    t.add_argument("config", help="configs/<experiment>.yaml")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set trainer.epochs=5 (repeatable; values parsed as YAML)")
    g = t.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    g.add_argument("--overwrite", action="store_true", help="start the run again even if its folder holds one")

    e = sub.add_parser("eval", help="test accuracy of a checkpoint")
    e.add_argument("config")
    e.add_argument("--checkpoint", required=True, metavar="PATH")
    e.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    ls = sub.add_parser("list", help="every model: era, year, paper, parameter count")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p


def _list(as_json: bool) -> None:
    from .models import list_models

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
        from .config import load_config

        cfg = load_config(args.config, args.overrides)
        if args.command == "train":
            from .train import fit

            fit(cfg, resume=args.resume, overwrite=args.overwrite, command=shlex.join(["milestones", *argv]))
        elif args.command == "eval":
            from .train import evaluate_checkpoint

            m = evaluate_checkpoint(cfg, args.checkpoint)
            print(json.dumps({"checkpoint": args.checkpoint, "test_loss": m["loss"], "test_acc": m["acc"]}))
        return 0
    except MilestonesError as e:
        print(f"milestones: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("milestones: interrupted; the last completed epoch's checkpoint is kept (--resume continues)",
              file=sys.stderr)
        return 130
    finally:
        from .distributed import cleanup

        cleanup()


if __name__ == "__main__":
    sys.exit(main())

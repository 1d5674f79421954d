"""The command line: `milestones tour | train | pack | eval | compare | story | list | configs | translate | zoo |
predict | export`
(also `python -m milestones ...`, and `torchrun --nproc_per_node=N -m milestones train CONFIG` for
DistributedDataParallel).

    milestones tour                                   every era, briefly, offline (under 5 minutes on 2 CPU cores)
    milestones train mlp_mnist                        a shipped config by name (`milestones configs` lists them)
    milestones pack resnet20_cifar10_gpu plain20_cifar10_gpu --seeds 0 1 2    six nets of one depth, packed
    milestones compare --runs runs/                   leaderboard + plots of finished runs

    milestones translate "彼は背が高い。"                the shipped ja->en Transformer (`milestones zoo` lists weights)
    milestones translate --checkpoint runs/transformer_enja_cpu/checkpoint.pt --file sentences.txt --beam 4
    echo "彼は背が高い。" | milestones translate --attention attention.png
    milestones eval --weights resnet20_cifar10        re-measure shipped weights on your data
    milestones predict --weights resnet20_cifar10 cat.jpg dog.png
    milestones export --weights resnet20_cifar10 --format onnx --output resnet20.onnx

A mistake of the user's (a bad config, a missing data set, a wrong checkpoint, a sentence that cannot be
translated) prints one line `milestones: error: ...` and exits with status 2; Ctrl-C exits with 130 and keeps the
last checkpoint.

This module parses the arguments and answers the commands that only list things (`list`, `configs`, `zoo`)
without importing torch; milestones/commands.py runs every other command.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

from .catalog import list_configs, list_models, zoo_markdown, zoo_rows, zoo_text
from .errors import MilestonesError

DEFAULT_TRANSLATOR = "transformer_enja"  # `milestones translate` without --checkpoint or --weights
# The names of milestones/suites.py's SUITES (`compare --suite`), in its order, written here so that building the
# parser imports no torch (tests/test_cli.py keeps the two equal).
SUITE_NAMES = ["quick", "full", "table6", "vit_data", "eras", "translators", "paper", "degradation", "fig6",
               "fig6_residual", "mlp_vs_cnn", "vit_data_cpu"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="milestones", description="Re-run the history of deep learning.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train the experiment a YAML config describes")
    t.add_argument("config", help="a YAML file, or the name of a shipped config (`milestones configs`)")
    t.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override config values, e.g. --set trainer.epochs=5 optim.lr=1e-3 (repeatable; values "
                   "parsed as YAML)")
    g = t.add_mutually_exclusive_group()
    g.add_argument("--resume", nargs="?", const="yes", choices=["yes", "auto"], metavar="auto",
                   help="continue the run from its last checkpoint; `--resume auto`: continue if the run has one, "
                   "else start it (for `torchrun --max-restarts=K`, which relaunches with the same arguments)")
    g.add_argument("--overwrite", action="store_true", help="start the run again even if its folder holds one")

    e = sub.add_parser("eval", help="test numbers of a checkpoint (CONFIG --checkpoint PATH) or of shipped weights "
                       "(--weights NAME)")
    e.add_argument("config", nargs="?", help="the config the checkpoint was trained with (not with --weights)")
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", metavar="PATH")
    src.add_argument("--weights", metavar="NAME", help="a zoo entry (`milestones zoo`): measured beside the "
                     "registry's number")
    e.add_argument("--data", metavar="DIR", help="with --weights: the data root holding the entry's test set")
    e.add_argument("--views", action="store_true", help="with --weights: also the test-time views / beam search "
                   "the registry records beside its single-view, greedy number")
    e.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE")

    pk = sub.add_parser("pack", help="train several CIFAR ResNet / plain-net configs of one depth at once, as one "
                        "packed net (each exactly as alone; one run folder each)")
    pk.add_argument("configs", nargs="+", metavar="CONFIG", help="YAML files or shipped config names")
    pk.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                    help="train each config once per seed, as run <config>_seed<SEED> (default: as configured)")
    pk.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                    help="override values in every config")
    pg = pk.add_mutually_exclusive_group()
    pg.add_argument("--resume", action="store_true", help="continue every run from its last checkpoint")
    pg.add_argument("--overwrite", action="store_true", help="start the runs again even if their folders hold runs")

    cf = sub.add_parser("configs", help="the shipped configs, with a line on each (train one by name)")
    cf.add_argument("--json", action="store_true")

    st = sub.add_parser("story", help="every claim of the story judged on the shipped models, offline",
                        description="The story's claims, each with its rule, the shipped entries' numbers (live "
                        "where no data is needed: the adding problem, the translators on the shipped test pairs; "
                        "else the registry's) and a verdict.")
    st.add_argument("--data", metavar="DIR", help="a data root: re-measure the image entries too")
    st.add_argument("--plots", metavar="DIR", help="draw the story's figures from the zoo into DIR (accuracy by era, "
                    "Fig. 6 curves, accuracy by data size, BLEU by length)")
    z = sub.add_parser("zoo", help="trained weights: list them (default), show or export one, rebuild, publish or "
                       "import one",
                       description="The weights zoo (milestones/weights/zoo.yaml). Without a subcommand: every entry, "
                       "its number, size and whether its file is shipped.")
    zs = z.add_subparsers(dest="zoo_command", metavar="SUBCOMMAND")
    zl = zs.add_parser("list", help="every entry (the default)")
    for q in (z, zl):
        q.add_argument("--pattern", default="*", help="shell-style filter on entry names, e.g. 'resnet*'")
        q.add_argument("--json", action="store_true")
        q.add_argument("--markdown", action="store_true", help="a markdown table with the recipes (RESULTS.md)")
    zw = zs.add_parser("show", help="an entry's model card: data, metric, recipe, hardware, license, intended use, "
                       "limits, citation (markdown)")
    zw.add_argument("name")
    zx = zs.add_parser("export", help="an entry as a self-describing folder to upload to a model hub yourself: "
                       "config.json, model.safetensors (float32), README.md (its model card)")
    zx.add_argument("name")
    zx.add_argument("dir", metavar="DIR", help="a new or empty folder (its parent must exist)")
    zx.add_argument("--overwrite", action="store_true", help="replace the three files of a folder that holds some")
    zb = zs.add_parser("build", help="retrain an entry from its recorded config and compare with the registry")
    zb.add_argument("name")
    zb.add_argument("--data", metavar="DIR")
    zb.add_argument("--output-dir", metavar="DIR", help="where the run goes (default: the config's, runs/)")
    zb.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE")
    zp = zs.add_parser("publish", help="(maintainers) a finished run -> weights file + registry entry")
    zp.add_argument("run", metavar="RUN_DIR")
    zp.add_argument("name")
    zp.add_argument("--why", required=True, help="why the entry is worth its bytes (kept in the registry)")
    zp.add_argument("--default", action="store_true", help="the entry weights='DEFAULT' picks for its model")
    zp.add_argument("--dtype", choices=["auto", "float16", "float32", "int8"], default="auto",
                    help="auto: float16 where it changes no number by over 0.05 points, else float32; int8: weight-only "
                         "int8 per output channel (files too big for the budget in float16)")
    zp.add_argument("--data", metavar="DIR")
    zi = zs.add_parser("import", help="(maintainers) akamaster/pytorch_resnet_cifar10's resnet{20,32,44,56}-*.th "
                       "-> a zoo entry")
    zi.add_argument("file")
    zi.add_argument("--depth", type=int, required=True, choices=[20, 32, 44, 56])
    zi.add_argument("--name", help="default: resnet<depth>_akamaster")
    zi.add_argument("--no-ship", action="store_true", help="record the entry, leave its file out")
    zi.add_argument("--data", metavar="DIR")

    pr = sub.add_parser("predict", help="classify image files with shipped weights or a checkpoint (top-5 classes)")
    pr.add_argument("images", nargs="+", metavar="IMAGE", help="PNG/JPEG/BMP files, any size (resized as the model "
                    "expects)")
    model_src = pr.add_mutually_exclusive_group(required=True)
    model_src.add_argument("--weights", metavar="NAME", help="a zoo entry (`milestones zoo`)")
    model_src.add_argument("--checkpoint", metavar="PATH", help="an image classification run's checkpoint.pt")
    pr.add_argument("--top", type=int, default=5, metavar="K")

    ex = sub.add_parser("export", help="an image model's shipped weights as ONNX")
    ex.add_argument("--weights", required=True, metavar="NAME")
    ex.add_argument("--format", choices=["onnx"], default="onnx")
    ex.add_argument("--output", required=True, metavar="FILE")

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
                       "write leaderboard.md, leaderboard.csv, claims.md (the story's claims checked against the "
                       "runs) and PNG plots.")
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--runs", metavar="DIR", help="gather every finished run under DIR")
    src.add_argument("--suite", choices=SUITE_NAMES, help="quick: sized for 2 CPU cores; full: the papers' "
                     "schedules (GPU); paper: every headline claim for one GPU window, the parts table6 + vit_data "
                     "+ eras + translators; degradation, fig6, mlp_vs_cnn, vit_data_cpu: RESULTS.md's CPU experiments "
                     "(milestones/suites.py says what each trains)")
    c.add_argument("--pack", type=int, default=1, metavar="N", help="a suite's CIFAR ResNets / plain nets of one "
                   "depth train N at a time as one packed net (`milestones pack`); default 1: one run at a time")
    c.add_argument("--budget-minutes", type=float, metavar="M", help="a suite: estimate each pack's and run's time "
                   "first (a few timed steps), print the plan, and train only what fits in M minutes")
    c.add_argument("--scale", type=float, metavar="F", help="a suite at fraction F of its schedule and data "
                   "(epochs, schedule, training/validation/test sets; model and batch as in the paper), e.g. "
                   "--scale 0.002 to watch the paper suite run on a CPU")
    c.add_argument("--seeds", type=int, default=3, help="seeds per config in a suite (default 3)")
    c.add_argument("--strict", action="store_true", help="a run folder that cannot be read is an error (default: a "
                   "warning, and a line in the leaderboard)")
    c.add_argument("--output", metavar="DIR", help="default: DIR/compare, or runs/compare_<suite>")
    c.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override every suite config, e.g. --set trainer.device=cuda")

    ls = sub.add_parser("list", help="every model: era, year, paper, parameter count, shipped weights")
    ls.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'resnet*'")
    ls.add_argument("--pretrained", action="store_true", help="only models with shipped weights")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")

    tr = sub.add_parser("translate", help="translate sentences (the shipped ja->en Transformer, other weights, or "
                        "a checkpoint of yours)",
                        description="Translate with the shipped ja->en Transformer, another zoo entry (--weights) or "
                        "a translation checkpoint (--checkpoint; it carries its vocabularies). An empty sentence, one "
                        "the model knows no token of, or one longer than twice the longest training source is refused "
                        "with a one-line error (exit 2), never silently truncated.")
    tr.add_argument("sentences", nargs="*", help="sentences to translate (else --file, else one a line on stdin)")
    which = tr.add_mutually_exclusive_group()
    which.add_argument("--checkpoint", metavar="PATH", help="a translation run's checkpoint.pt")
    which.add_argument("--weights", metavar="NAME", default=DEFAULT_TRANSLATOR,
                       help=f"a zoo entry (default: {DEFAULT_TRANSLATOR})")
    tr.add_argument("--file", metavar="PATH", help="read sentences from a file, one a line (blank lines skipped)")
    tr.add_argument("--beam", type=int, default=1, metavar="N", help="beam size (1: greedy, the default)")
    tr.add_argument("--alpha", type=float, default=0.6, help="GNMT length penalty exponent for beam search")
    tr.add_argument("--attention", metavar="PNG", help="write the source x output attention heat map (rnnsearch, "
                    "transformer); with several sentences, PNG gets a -1, -2, ... suffix")
    return p


def _list(args: argparse.Namespace) -> None:
    rows = list_models(args.pattern, pretrained=args.pretrained)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'model':<16}{'era':<22}{'year':<6}{'params':>12}  {'weights':<34}paper")
    for r in rows:
        shipped = ", ".join(w.removeprefix(r["name"] + "_") for w in r["weights"]) or "-"
        print(f"{r['name']:<16}{r['era']:<22}{r['year']:<6}{r['params']:>12,}  {shipped:<34}{r['paper']}")


def _configs(as_json: bool) -> None:
    rows = list_configs()
    if as_json:
        print(json.dumps([{"name": n, "description": d} for n, d in rows], indent=2))
        return
    width = max(len(n) for n, _ in rows) + 2
    for name, about in rows:
        print(f"{name:<{width}}{about}")
    print("\ntrain one by name: milestones train NAME [--set key=value ...]")


def _zoo_list(args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(zoo_rows(args.pattern), indent=2, ensure_ascii=False))
    elif args.markdown:
        print(zoo_markdown(args.pattern))
    else:
        print(zoo_text(args.pattern))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    try:
        # The commands that only list things are answered here, from tables and files (milestones/catalog.py): they
        # import no torch, so they answer at once (tests/test_cli.py checks it). Every other command needs torch.
        if args.command == "list":
            _list(args)
        elif args.command == "configs":
            _configs(args.json)
        elif args.command == "zoo" and args.zoo_command in (None, "list"):
            _zoo_list(args)
        else:
            # The CLI's lazy loading: the package's only import made at run time rather than at the top of a module
            # (tests/test_architecture.py knows it). Imported at the top, milestones/commands.py would cost every
            # command torch's ~2 s import, --help included.
            return importlib.import_module("milestones.commands").run(args, argv)
        return 0
    except MilestonesError as e:
        print(f"milestones: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("milestones: interrupted; the last completed epoch's checkpoint is kept (--resume continues)",
              file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`milestones zoo | head`): stop quietly, as cat would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the interpreter's last flush goes nowhere
        return 141


if __name__ == "__main__":
    sys.exit(main())

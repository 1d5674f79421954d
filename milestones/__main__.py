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
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import sys
from pathlib import Path

from .checkpoint import CHECKPOINT
from .compare import compare
from .configfile import list_configs, load_config
from .distributed import cleanup
from .errors import ConfigError, InputError, MilestonesError
from .models import list_models
from .predict import checkpoint_image_model, export_onnx, image_model, predict
from .pretrained import get_weights
from .suites import SUITES, run_suite
from .tour import tour
from .pack import fit_packed
from .evaluation import evaluate_checkpoint
from .train import fit
from .translate import NO_MATPLOTLIB, load_translator, load_translator_weights, plot_attention, translate
from .story import judge, story_figures, story_markdown
from .zoo import build, import_akamaster, measure, publish, zoo_markdown, zoo_rows, zoo_text

DEFAULT_TRANSLATOR = "transformer_enja"  # `milestones translate` without --checkpoint or --weights


def _story(args: argparse.Namespace) -> None:
    judged = judge(args.data)
    print(story_markdown(judged))
    if args.plots:
        for path in story_figures(judged, Path(args.plots)):
            print(f"written: {path}")

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
    z = sub.add_parser("zoo", help="trained weights: list them (default), rebuild one, publish or import one",
                       description="The weights zoo (milestones/weights/zoo.yaml). Without a subcommand: every entry, "
                       "its number, size and whether its file is shipped.")
    zs = z.add_subparsers(dest="zoo_command", metavar="SUBCOMMAND")
    zl = zs.add_parser("list", help="every entry (the default)")
    for q in (z, zl):
        q.add_argument("--pattern", default="*", help="shell-style filter on entry names, e.g. 'resnet*'")
        q.add_argument("--json", action="store_true")
        q.add_argument("--markdown", action="store_true", help="a markdown table with the recipes (RESULTS.md)")
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
    src.add_argument("--suite", choices=list(SUITES), help="quick: sized for 2 CPU cores; full: the papers' "
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
    which.add_argument("--weights", metavar="NAME", help=f"a zoo entry (default: {DEFAULT_TRANSLATOR})")
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
    if args.checkpoint:
        model, meta = load_translator(args.checkpoint)
    else:
        model, meta = load_translator_weights(args.weights or DEFAULT_TRANSLATOR)
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
        failures = run_suite(args.suite, args.seeds, runs, args.overrides, pack=args.pack,
                             budget_minutes=args.budget_minutes, scale=args.scale)
        out, title = Path(args.output or f"runs/compare_{args.suite}"), f"Leaderboard: the {args.suite} suite"
    else:
        if args.scale is not None:
            raise ConfigError("--scale shrinks a suite's runs: use it with --suite")
        runs, failures = Path(args.runs), []
        out, title = Path(args.output or runs / "compare"), f"Leaderboard: runs in {runs}"
    table, claims, plots = compare(runs, out, title, strict=args.strict)
    print(table.read_text(encoding="utf-8"))
    print(claims.read_text(encoding="utf-8"))
    print(f"written: {table}, {table.with_suffix('.csv')}, {claims}" + "".join(f", {p}" for p in plots))
    if failures:
        raise MilestonesError(f"{len(failures)} of the suite's runs or packs failed (the leaderboard has the rest): "
                              f"{failures[0]}" + (f"; and {len(failures) - 1} more above" if len(failures) > 1 else ""))


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


def _zoo(args: argparse.Namespace) -> None:
    cmd = args.zoo_command or "list"
    if cmd == "list":
        if args.json:
            print(json.dumps(zoo_rows(args.pattern), indent=2, ensure_ascii=False))
            return
        if args.markdown:
            print(zoo_markdown(args.pattern))
            return
        print(zoo_text(args.pattern))
    elif cmd == "build":
        r = build(args.name, output_dir=args.output_dir, data_root=args.data, overrides=tuple(args.overrides))
        verdict = "within" if r["ok"] else "OUTSIDE"
        print(f"{r['name']}: rebuilt {r['value']:.2f}, registry {r['registry']:.2f}: {verdict} the tolerance "
              f"{r['tolerance']} ({r['run_dir']})")
        if not r["ok"]:
            raise MilestonesError(f"{r['name']}: the rebuilt model is {abs(r['value'] - r['registry']):.2f} points "
                                  f"from the registry's number (tolerance {r['tolerance']})")
    elif cmd == "publish":
        e = publish(args.run, args.name, why=args.why, default=args.default, dtype=args.dtype, data_root=args.data)
        print(f"{args.name}: {e['value']} ({e['dtype']}, {e['bytes']:,} bytes) written to the registry")
    elif cmd == "import":
        e = import_akamaster(args.file, args.depth, name=args.name, data_root=args.data, ship=not args.no_ship)
        print(f"{args.name or f'resnet{args.depth}_akamaster'}: {e['value']}% on this CIFAR-10 test set "
              f"(published: {e['recipe']['published_value']}%)")


def _eval(args: argparse.Namespace) -> None:
    if args.weights:
        if args.config:
            raise ConfigError("eval --weights takes no CONFIG: the entry records its own")
        r = measure(get_weights(args.weights), data_root=args.data, overrides=tuple(args.overrides),
                    views=args.views)
        print(json.dumps(r))
        got, want = r["measured"]["value"], r["registry"]
        print(f"{args.weights}: {r['metric']} {got:.2f} measured, {want:.2f} in the registry "
              f"(difference {got - want:+.2f})", file=sys.stderr)
        return
    if not args.config:
        raise ConfigError("eval --checkpoint needs the CONFIG the checkpoint was trained with")
    cfg = load_config(args.config, args.overrides)
    print(json.dumps({"checkpoint": args.checkpoint, **evaluate_checkpoint(cfg, args.checkpoint)}))


def _predict(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise ConfigError(f"--top must be >= 1, got {args.top}")
    model, meta = (image_model(get_weights(args.weights)) if args.weights else
                   checkpoint_image_model(args.checkpoint))
    preds, errors = predict(model, meta, args.images, k=args.top)
    for p in preds:
        print(f"{p.path}: " + ", ".join(f"{c} {100 * v:.1f}%" for c, v in p.top))
    for e in errors:
        print(f"milestones: error: {e}", file=sys.stderr)
    return 2 if errors else 0


def _pack_configs(args: argparse.Namespace) -> list:
    """`milestones pack`'s configs: each as given, or once per --seeds SEED as <stem>_seed<SEED> (as the suites)."""
    if args.seeds is None:
        return [load_config(c, args.overrides) for c in args.configs]
    stems = [load_config(c).name for c in args.configs]  # once per config, not once per seed
    return [load_config(c, [*args.overrides, f"seed={seed}", f"name={stem}_seed{seed}"])
            for c, stem in zip(args.configs, stems) for seed in args.seeds]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    try:
        plain = {"list": _list, "configs": lambda a: _configs(a.json), "zoo": _zoo, "eval": _eval,
                 "translate": _translate, "compare": _compare, "story": _story,
                 "export": lambda a: print(f"written: {export_onnx(get_weights(a.weights), a.output)}")}
        if args.command in plain:
            plain[args.command](args)
            return 0
        if args.command == "predict":
            return _predict(args)
        if args.command == "tour":
            if args.minutes is not None and args.minutes <= 0:
                raise ConfigError(f"--minutes must be > 0, got {args.minutes:g}")
            tour(data_root=args.data, minutes=args.minutes, output_dir=args.output, seed=args.seed,
                 progress=not args.no_progress)
            return 0
        if args.command == "pack":
            fit_packed(_pack_configs(args), resume=args.resume, overwrite=args.overwrite,
                       command=shlex.join(["milestones", *argv]))
            return 0
        cfg = load_config(args.config, args.overrides)
        if args.command == "train":
            resume = args.resume == "yes" or (args.resume == "auto" and (cfg.run_dir / CHECKPOINT).is_file())
            fit(cfg, resume=resume, overwrite=args.overwrite, command=shlex.join(["milestones", *argv]))
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
    finally:
        cleanup()


if __name__ == "__main__":
    sys.exit(main())

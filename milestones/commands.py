"""What the commands that need torch do once their arguments are parsed (milestones/__main__.py parses them).

Training, measuring, translating, predicting, comparing, the tour and the story all build or run models, so this
module imports torch and most of the package. __main__.py imports it only when one of them runs (its one lazy
import, `importlib.import_module("milestones.commands")`), so that `milestones --help` and the commands that only
list things (`list`, `configs`, `zoo`) answer at once.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import shlex
import sys
from pathlib import Path

from .checkpoint import has_checkpoint
from .compare import compare
from .configfile import load_config
from .distributed import cleanup
from .errors import ConfigError, InputError, MilestonesError
from .predict import checkpoint_image_model, export_onnx, image_model, predict
from .pretrained import get_weights
from .suites import run_suite
from .tour import tour
from .pack import fit_packed
from .evaluation import evaluate_checkpoint
from .train import fit
from .translate import NO_CJK_FONT, NO_MATPLOTLIB, load_translator, load_translator_weights, plot_attention, translate
from .story import judge, story_figures, story_markdown
from .zoo import build, import_akamaster, measure, publish
from .card import CONFIG_FILE, README_FILE, WEIGHTS_FILE, export_entry, model_card


def _story(args: argparse.Namespace) -> None:
    judged = judge(args.data)
    print(story_markdown(judged))
    if args.plots:
        for path in story_figures(judged, Path(args.plots)):
            print(f"written: {path}")


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
    if not math.isfinite(args.alpha):
        raise InputError(f"--alpha must be a finite number (0.6: Vaswani et al.'s), got {args.alpha:g}")
    if args.checkpoint:
        model, meta = load_translator(args.checkpoint)
    else:
        model, meta = load_translator_weights(args.weights)  # the parser's default: DEFAULT_TRANSLATOR
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
                print(NO_CJK_FONT, file=sys.stderr)


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


def _zoo(args: argparse.Namespace) -> None:
    """`milestones zoo show | export | build | publish | import` (listing the zoo is __main__.py's, without torch)."""
    cmd = args.zoo_command
    if cmd == "show":
        print(model_card(args.name))
    elif cmd == "export":
        folder = export_entry(args.name, args.dir, overwrite=args.overwrite)
        print(f"written: {folder / CONFIG_FILE}, {folder / WEIGHTS_FILE} (float32), {folder / README_FILE}")
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


def _tour(args: argparse.Namespace) -> None:
    if args.minutes is not None and not (math.isfinite(args.minutes) and args.minutes > 0):
        raise ConfigError(f"--minutes must be a finite number > 0, got {args.minutes:g}")
    tour(data_root=args.data, minutes=args.minutes, output_dir=args.output, seed=args.seed,
         progress=not args.no_progress)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    """Run the command `args` (parsed from `argv`, which a run records as its command line); its exit status.
    A user's mistake is raised as a MilestonesError, for __main__.py to print in one line."""
    command = shlex.join(["milestones", *argv])
    try:
        plain = {"eval": _eval, "translate": _translate, "compare": _compare, "story": _story, "zoo": _zoo,
                 "tour": _tour, "export": lambda a: print(f"written: {export_onnx(get_weights(a.weights), a.output)}")}
        if args.command in plain:
            plain[args.command](args)
            return 0
        if args.command == "predict":
            return _predict(args)
        if args.command == "pack":
            fit_packed(_pack_configs(args), resume=args.resume, overwrite=args.overwrite, command=command)
            return 0
        if args.command != "train":
            raise ValueError(f"no such command: {args.command}")  # a bug: the parser knows every command
        cfg = load_config(args.config, args.overrides)
        resume = args.resume == "yes" or (args.resume == "auto" and has_checkpoint(cfg.run_dir))
        fit(cfg, resume=resume, overwrite=args.overwrite, command=command)
        return 0
    finally:
        cleanup()

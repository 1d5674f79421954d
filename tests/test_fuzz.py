"""Property-based tests (hypothesis): whatever a user or a file feeds in, the answer is a result or one clear line.

- Configs, as dicts built from the config dataclasses' own fields (right and wrong types, extreme numbers,
  unicode, nesting, unknown keys), as `--set` overrides and as raw YAML text (aliases, anchors, brackets): each
  loads into a Config or raises a MilestonesError of one short line, never another exception; an accepted
  config's run folder lies inside its output folder.
- Checkpoint files, truncated or with bytes flipped: refused with a CheckpointError, or loaded intact.
- Translation input, any unicode: translated, or refused with an InputError.

These run load-and-validate only (no training): a few thousand cases in about half a minute. More cases:
MILESTONES_FUZZ_EXAMPLES=20000 python -m pytest tests/test_fuzz.py (scripts/maintenance/fuzz.py runs that and counts).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import typing
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO
from milestones import create_model, load_checkpoint
from milestones.checkpoint import read_checkpoint, save_checkpoint
from milestones.config import DataConfig, OptimConfig, ScheduleConfig, TrainerConfig, config_from_dict
from milestones.configfile import load_config, save_config
from milestones.data.text import load_translation_data
from milestones.errors import CheckpointError, InputError, MilestonesError
from milestones.models import MODELS
from milestones.tasks import TASKS
from milestones.translate import translate
from test_translation import tiny_model, write_tiny_corpus

SCALE = int(os.environ.get("MILESTONES_FUZZ_EXAMPLES", "0")) or None
settings.register_profile("milestones", deadline=None, derandomize=SCALE is None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("milestones")
OUT = Path(tempfile.mkdtemp(prefix="milestones-fuzz-"))  # where accepted configs would write
ACCEPTED: list[int] = []  # generated configs that passed, so that the test can tell it reached past validation


def examples(n: int):
    return settings(max_examples=SCALE or n)


def one_line(e: MilestonesError) -> None:
    message = str(e)
    assert message and "\n" not in message and len(message) < 1500, repr(message[:300])


# --- values ----------------------------------------------------------------------------------------------------------

LEAF = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-2 ** 70, max_value=2 ** 70), st.integers(min_value=-3, max_value=300),
    st.integers(min_value=10 ** 300, max_value=10 ** 400),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(min_value=-2.0, max_value=2.0),
    st.text(max_size=30), st.sampled_from(["", "..", "../x", "a/b", "runs", "ümlaut", "🙂", "1e-3", "null"]),
)
ANY = st.recursive(LEAF, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                     max_size=3), max_leaves=12)


def plausible(tp) -> st.SearchStrategy:
    """Values of an annotation's own type, near the sizes configs use (so that many generated configs pass)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin is typing.Union:
        return st.one_of(*(plausible(a) for a in args))
    if origin in (list, tuple):
        return st.lists(plausible(args[0]) if args else LEAF, max_size=3)
    return {type(None): st.none(), bool: st.booleans(), int: st.integers(min_value=-2, max_value=300),
            float: st.floats(min_value=-0.5, max_value=2.0), str: st.text(max_size=12), dict: st.just({})}[tp]


def section(cls) -> st.SearchStrategy[dict]:
    """Some of a config section's own keys (now and then an unknown one), each with a value of its type (mostly
    near the usual sizes), or any value at all."""
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls)]
    value = {name: st.one_of(plausible(hints[name]), plausible(hints[name]), plausible(hints[name]), ANY)
             for name in fields}
    keys = st.lists(st.one_of(*[st.sampled_from(fields)] * 6, st.text(max_size=10)), max_size=5, unique=True)
    return keys.flatmap(lambda ks: st.fixed_dictionaries({k: value.get(k, ANY) for k in ks}))


MODEL = st.fixed_dictionaries({"name": st.one_of(*[st.sampled_from(["mlp", "lenet5", "alexnet", "resnet20"])] * 4,
                                                  st.sampled_from(sorted(MODELS)), ANY)},
                              optional={"dropout": st.floats(0.0, 0.9) | ANY})
CONFIG = st.fixed_dictionaries(
    {"model": MODEL, "output_dir": st.just(str(OUT))},
    optional={"name": st.sampled_from(["run", "a.b-c_1", "../../escaped", "/abs", ".", "", "x" * 300]) | ANY,
              "seed": st.integers(min_value=-10, max_value=2 ** 40) | ANY,
              "data": section(DataConfig), "optim": section(OptimConfig), "schedule": section(ScheduleConfig),
              "trainer": section(TrainerConfig)}).flatmap(
    lambda c: st.just(c) | st.builds(lambda t: {**c, "task": t}, st.sampled_from(sorted(TASKS)) | ANY))


@examples(1000)
@given(raw=CONFIG)
def test_any_config_is_accepted_or_refused_in_one_line(raw):
    try:
        cfg = config_from_dict(raw, where="fuzz.yaml")
    except MilestonesError as e:
        one_line(e)
        return
    assert cfg.run_dir.parent == OUT.resolve()  # the run can only write inside its output folder
    assert cfg.hash() == config_from_dict(cfg.to_dict()).hash()  # what it saves loads back the same
    np.random.RandomState(cfg.seed)  # what the libraries would refuse later, they accept
    torch.Generator().manual_seed(cfg.seed * 1_000_003 + cfg.trainer.epochs)  # the loaders' per-epoch seed
    ACCEPTED.append(1)


def test_the_generated_configs_reach_past_validation():
    """Run after the property above (pytest keeps the file's order): a fuzzer that only ever fails validation
    would test nothing beyond it."""
    print(f"{len(ACCEPTED)} generated configs were accepted")
    assert len(ACCEPTED) >= 60 or SCALE is not None


BASE = REPO / "configs" / "mlp_mnist.yaml"
KEYS = st.sampled_from(["seed", "name", "task", "model.name", "model.hidden", "trainer.epochs", "trainer.batch_size",
                        "optim.lr", "optim.betas", "schedule.milestones", "data.name", "trainer", "model",
                        "trainer.epochs.x", "x.y.z", ""])
OVERRIDE = st.one_of(st.text(max_size=40),
                     st.builds(lambda k, v: f"{k}={v}", KEYS, st.text(max_size=30)),
                     st.builds(lambda k, v: f"{k}={v}", KEYS, st.sampled_from(
                         ["1e400", "-1", "0", ".nan", ".inf", "[1, [2]]", "{a: 1}", "&a [1]", "*a", "'" * 3,
                          "9" * 400, "[" * 200, "~", "true"])))


@examples(600)
@given(items=st.lists(OVERRIDE, max_size=4))
def test_any_set_override_is_accepted_or_refused_in_one_line(items):
    try:
        cfg = load_config(BASE, items)
    except MilestonesError as e:
        one_line(e)
        return
    assert cfg.run_dir.is_relative_to(Path(cfg.output_dir).expanduser().resolve())


YAML_TEXT = st.text(alphabet=st.sampled_from(list("model:name trainer epochs {}[],&*!|>-'\"\n#0123456789.e:")),
                    max_size=120) | st.sampled_from(["model: " + "[" * 3000 + "]" * 3000, "a: &a [1]\nb: *a\n"])


@examples(600)
@given(text=YAML_TEXT | st.text(max_size=60))
def test_any_yaml_text_is_accepted_or_refused_in_one_line(text):
    path = OUT / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_config(path)
    except MilestonesError as e:
        one_line(e)


def test_accepted_configs_round_trip_through_their_saved_yaml():
    cfg = load_config(BASE, ["name=ok", f"output_dir={OUT}"])
    save_config(cfg, OUT / "saved.yaml")
    assert load_config(OUT / "saved.yaml").hash() == cfg.hash()


# --- checkpoints -----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def checkpoint_bytes() -> bytes:
    cfg = config_from_dict({"name": "fuzz", "model": {"name": "mlp", "in_features": 4, "hidden": [3]}})
    torch.manual_seed(0)
    model = create_model("mlp", in_features=4, hidden=(3,))
    path = OUT / "good.pt"
    save_checkpoint({"model": model.state_dict(), "config": cfg.to_dict(), "model_name": "mlp",
                     "model_args": {"in_features": 4, "hidden": (3,)}, "data_meta": {}}, path)
    return path.read_bytes()


@examples(300)
@given(data=st.data())
def test_a_damaged_checkpoint_is_refused_or_loads_intact(checkpoint_bytes, data):
    raw = bytearray(checkpoint_bytes)
    if data.draw(st.booleans(), label="truncate"):
        raw = raw[:data.draw(st.integers(0, len(raw) - 1), label="keep")]
    else:
        for _ in range(data.draw(st.integers(1, 8), label="flips")):
            i = data.draw(st.integers(0, len(raw) - 1), label="at")
            raw[i] ^= data.draw(st.integers(1, 255), label="mask")
    path = OUT / "damaged.pt"
    path.write_bytes(bytes(raw))
    try:
        ckpt = read_checkpoint(path)
    except CheckpointError as e:
        one_line(e)
        return
    good = torch.load(OUT / "good.pt", weights_only=True)
    assert all(torch.equal(ckpt["model"][k], v) for k, v in good["model"].items())  # intact, or refused
    load_checkpoint(path)


# --- translation input -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def translator():
    meta = load_translation_data("small_parallel_enja", root=str(write_tiny_corpus(OUT / "enja")), min_freq=1).meta
    return tiny_model("transformer", meta).eval(), meta


@examples(200)
@given(sentences=st.lists(st.text(max_size=40) | st.sampled_from(["彼は背が高い。", "彼" * 30, "  ", "\x00"]),
                          min_size=1, max_size=3), beam=st.integers(1, 3))
def test_any_sentence_is_translated_or_refused_in_one_line(translator, sentences, beam):
    model, meta = translator
    try:
        out = translate(model, meta, sentences, beam=beam, max_len=8)
    except InputError as e:
        one_line(e)
        return
    assert len(out) == len(sentences) and all(isinstance(t.text, str) for t in out)

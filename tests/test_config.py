import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from milestones import create_model
from milestones.data.datasets import DATASETS
from milestones.config import NO_RESULT, RESUMABLE, Config, config_from_dict, marked_keys
from milestones.configfile import apply_override, load_config, parse_value, save_config
from milestones.errors import ConfigError
from milestones.tasks import TASKS

from conftest import REPO

CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "exp.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_shipped_config_loads_and_builds_its_model(path):
    cfg = load_config(path)
    assert cfg.name == path.stem
    model = create_model(cfg.model.name, **cfg.model.args)
    assert sum(p.numel() for p in model.parameters()) > 0


def test_sections_load_into_typed_dataclasses(tmp_path):
    p = write(tmp_path, "model: {name: mlp, hidden: [32, 16]}\noptim: {lr: 1e-3}\ntrainer: {epochs: 3}\n")
    cfg = load_config(p)
    assert isinstance(cfg, Config)
    assert cfg.model.args == {"hidden": (32, 16)}
    assert cfg.optim.lr == 0.001 and isinstance(cfg.optim.lr, float)
    assert cfg.trainer.epochs == 3 and cfg.trainer.batch_size == 128  # default kept


def test_set_overrides_parse_yaml_values(tmp_path):
    p = write(tmp_path, "model: {name: mlp}\n")
    cfg = load_config(p, ["optim.lr=1e-3", "trainer.epochs=5", "trainer.channels_last=true",
                          "model.hidden=[8, 8]", "data.root=/some/where"])
    assert cfg.optim.lr == pytest.approx(1e-3) and isinstance(cfg.optim.lr, float)
    assert cfg.trainer.epochs == 5 and cfg.trainer.channels_last is True
    assert cfg.model.args["hidden"] == (8, 8)
    assert cfg.data.root == "/some/where"
    assert parse_value("1e-3") == 0.001 and parse_value("-2.5E+2") == -250.0 and parse_value("7") == 7


@pytest.mark.parametrize("text, overrides, message", [
    ("model: {name: mlp}\ntrainer: {epoch: 3}\n", [], "unknown key 'trainer.epoch' (did you mean 'epochs'?)"),
    ("model: {name: mlp}\ntrainer: {batch_size: many}\n", [], "trainer.batch_size: expected int, got str 'many'"),
    ("model: {name: mlp}\noptim: {lr: fast}\n", [], "optim.lr: expected float"),
    ("model: {name: mlp}\n", ["trainer.batch_size=0"], "trainer.batch_size must be >= 1, got 0"),
    ("model: {name: mlp}\n", ["optim.lr=-0.1"], "optim.lr must be > 0, got -0.1"),
    ("model: {name: mlp}\n", ["trainer.epochs"], "expected key=value, got 'trainer.epochs'"),
    ("model: {name: mlp}\n", ["trainer.device=gpu"], "trainer.device: expected one of 'auto', 'cpu', 'cuda'"),
    ("model: {name: mlp}\n", ["trainer.threads=autox"],
     "trainer.threads: expected int or one of 'auto' or null, got str 'autox'"),
    ("model: {name: mlp}\ntrainer: {threads: 0}\n", [], "trainer.threads must be >= 1, 'auto' or null, got 0"),
    ("model: {name: perceptron}\n", [], "unknown model 'perceptron'"),
    ("model: {name: mlp, widht: 3}\n", [], "unknown key 'model.widht' for model 'mlp'"),
    ("model: {name: mlp, dropout: lots}\n", [], "model.dropout: expected float"),
    ("model: {name: mlp}\ndata: {name: imagenet21k}\n", [], "data.name: expected one of"),
    ("model: {name: mlp\n", [], "malformed YAML at line"),
    ("- just\n- a list\n", [], "the top level must be a mapping"),
    ("model: {name: mlp}\ntrainer: 3\n", [], "'trainer' must be a mapping"),
    ("trainer: {epochs: 1}\n", [], "model.name must be set"),
])
def test_bad_configs_fail_with_one_line_naming_key_and_file(tmp_path, text, overrides, message):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_config(p, overrides)
    msg = str(e.value)
    assert message in msg
    assert "\n" not in msg
    if not message.startswith("expected key=value"):
        assert str(p) in msg


def test_threads_auto_is_accepted_in_files_and_set_and_round_trips(tmp_path):
    cfg = load_config(write(tmp_path, "model: {name: mlp}\ntrainer: {threads: auto}\n"))
    assert cfg.trainer.threads == "auto"
    assert load_config(write(tmp_path, "model: {name: mlp}\n"), ["trainer.threads=auto"]).trainer.threads == "auto"
    save_config(cfg, tmp_path / "resolved.yaml")
    assert load_config(tmp_path / "resolved.yaml").hash() == cfg.hash()
    assert cfg.hash() != load_config(write(tmp_path, "model: {name: mlp}\ntrainer: {threads: 2}\n")).hash()


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_override_cannot_descend_into_a_value():
    raw = {"trainer": {"epochs": 1}}
    with pytest.raises(ConfigError, match="not a mapping"):
        apply_override(raw, "trainer.epochs.x=1")


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(REPO / "configs" / "mlp_cifar10.yaml", ["trainer.epochs=3"])
    save_config(cfg, tmp_path / "resolved.yaml")
    again = load_config(tmp_path / "resolved.yaml")
    assert again.to_dict() == cfg.to_dict()
    assert again.hash() == cfg.hash()
    assert yaml.safe_load((tmp_path / "resolved.yaml").read_text())["model"]["in_features"] == 3072


def test_hash_ignores_where_runs_live_but_not_what_they_do():
    base = {"model": {"name": "mlp"}}
    a = config_from_dict(base)
    assert a.hash() == config_from_dict({**base, "output_dir": "elsewhere", "name": "x"}).hash()
    assert a.hash() == config_from_dict({**base, "trainer": {"eval_every": 5}}).hash()  # same weights, same numbers
    assert a.hash() != config_from_dict({**base, "optim": {"lr": 0.5}}).hash()
    # cuDNN's algorithm search picks other kernels, not another result: a run with it off is the same experiment
    assert a.hash() == config_from_dict({**base, "trainer": {"cudnn_benchmark": False}}).hash()


def test_cudnn_benchmark_is_set_for_a_gpu_and_leaves_a_cpu_alone():
    import torch

    from milestones.runtime import set_cudnn_benchmark

    before = torch.backends.cudnn.benchmark
    try:
        set_cudnn_benchmark(torch.device("cuda"), True)  # sets the flag only: no GPU needed
        assert torch.backends.cudnn.benchmark is True
        set_cudnn_benchmark(torch.device("cpu"), False)
        assert torch.backends.cudnn.benchmark is True
        set_cudnn_benchmark(torch.device("cuda"), False)
        assert torch.backends.cudnn.benchmark is False
    finally:
        torch.backends.cudnn.benchmark = before


def _changed(value):
    """Another value of the same type, valid where the original is."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value / 2 + 0.01
    if value is None:
        return 1
    return value + "x" if isinstance(value, str) else value


def test_result_neutral_keys_come_from_the_fields_and_are_exactly_what_the_hash_ignores():
    """One list, on the dataclass fields: NO_RESULT keys leave the hash alone; every other key changes it."""
    assert marked_keys(NO_RESULT) == {"name", "output_dir", "data.root", "data.cache_dir", "data.download",
                                      "trainer.progress", "trainer.checkpoint", "trainer.eval_every", "trainer.beam",
                                      "trainer.length_stress", "trainer.tensorboard", "data.path", "data.workers",
                                      "trainer.cudnn_benchmark", "data.source_file", "data.target_file"}
    assert marked_keys(RESUMABLE) == {"trainer.epochs", "trainer.stop_epoch", "trainer.device", "trainer.threads"}
    base = Config()
    for section in ("", "data.", "trainer.", "optim.", "schedule."):
        obj = getattr(base, section[:-1]) if section else base
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value) or isinstance(value, (list, dict)) or f.name == "task":
                continue
            other = dataclasses.replace(obj, **{f.name: _changed(value)})
            cfg = dataclasses.replace(base, **{section[:-1]: other}) if section else other
            key = section + f.name
            if key == "trainer.stop_epoch":
                cfg.trainer.epochs = 2  # stop_epoch must lie within the schedule
                unstopped = dataclasses.replace(cfg, trainer=dataclasses.replace(cfg.trainer, stop_epoch=None))
                assert cfg.hash() != unstopped.hash()
                continue
            assert (cfg.hash() == base.hash()) == (key in marked_keys(NO_RESULT)), key


def test_a_task_is_one_entry_the_config_checks_ask():
    assert set(TASKS) == {"classification", "regression", "seq2seq"}
    assert {d.task for d in DATASETS.values()} == set(TASKS)
    for d in DATASETS.values():  # the task follows from the data set; stating it is allowed and checked
        assert config_from_dict({"model": {"name": "mlp"}, "data": {"name": d.name}}).task == d.task
        assert config_from_dict({"task": d.task, "model": {"name": "mlp"}, "data": {"name": d.name}}).task == d.task
    with pytest.raises(ConfigError, match="task must be 'regression' for data.name 'adding', got 'classification'"):
        config_from_dict({"task": "classification", "model": {"name": "lstm"}, "data": {"name": "adding"}})
    with pytest.raises(ConfigError, match=r"data.name: expected one of .*got str 'cifar' \(did you mean 'cifar10'\?\)"):
        config_from_dict({"model": {"name": "mlp"}, "data": {"name": "cifar"}})
    with pytest.raises(ConfigError, match="task: expected one of 'classification', 'regression', 'seq2seq'"):
        config_from_dict({"task": "reinforcement", "model": {"name": "mlp"}})
    with pytest.raises(ConfigError, match="trainer.beam must be 1 unless task is seq2seq, got 4"):
        config_from_dict({"model": {"name": "mlp"}, "trainer": {"beam": 4}})
    with pytest.raises(ConfigError, match="trainer.test_flip must be false unless task is classification"):
        config_from_dict({"task": "regression", "model": {"name": "lstm"}, "data": {"name": "adding"},
                          "trainer": {"test_flip": True}})


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path):
    p = write(tmp_path, "model: {name: mlp}\ntrainer:\n  epochs: 1\noptim: {lr: 0.1}\ntrainer:\n  epochs: 3\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)  # YAML itself would keep the second `trainer:` and drop the first
    assert str(e.value) == (f"{p}: duplicate key 'trainer' at lines 2 and 5 (YAML would silently keep only the "
                            f"second); keep one")
    p = write(tmp_path, "model: {name: mlp}\ntrainer:\n  epochs: 1\n  batch_size: 8\n  epochs: 3\n")
    with pytest.raises(ConfigError, match="duplicate key 'trainer.epochs' at lines 3 and 5"):
        load_config(p)
    with pytest.raises(ConfigError, match=r"--set: duplicate key 'model.hidden\[0\].a'"):
        load_config(write(tmp_path, "model: {name: mlp}\n"), ["model.hidden=[{a: 1, a: 2}]"])


YAML11 = [("012", "is read as 10 by YAML 1.1 and as 12 by YAML 1.2; write 12, or '012' in quotes"),
          ("0777", "is read as 511 by YAML 1.1 and as 777 by YAML 1.2; write 777"),
          ("019", "is read as a string by YAML 1.1 and as 19 by YAML 1.2; write 19"),
          ("1:30", "is read as 90 by YAML 1.1 and as a string by YAML 1.2; write 90, or '1:30' in quotes"),
          ("0x10", "is read as 16, a number form configs do not take; write 16"),
          ("0o17", "is read as a string by YAML 1.1 and as 15 by YAML 1.2; write 15"),
          ("0b101", "is read as 5 by YAML 1.1 and as a string by YAML 1.2; write 5"),
          ("1_000", "is read as 1000 by YAML 1.1 and as a string by YAML 1.2; write 1000"),
          ("-012", "is read as -10 by YAML 1.1 and as -12 by YAML 1.2; write -12")]


@pytest.mark.parametrize("text, message", YAML11, ids=[t for t, _ in YAML11])
def test_numbers_yaml_1_1_and_1_2_read_differently_are_refused_in_files_and_set(tmp_path, text, message):
    p = write(tmp_path, f"model: {{name: mlp}}\ntrainer:\n  batch_size: {text}\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value).startswith(f"{p}: trainer.batch_size: {text} (line 3) {message}")
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, "model: {name: mlp}\n"), [f"trainer.batch_size={text}"])
    assert str(e.value).startswith(f"--set: trainer.batch_size: {text} {message}")
    with pytest.raises(ConfigError, match=rf"--set: model.hidden\[1\]: {text} "):
        load_config(write(tmp_path, "model: {name: mlp}\n"), [f"model.hidden=[8, {text}]"])


def test_yaml_1_2_numbers_and_quoted_strings_still_load_and_round_trip(tmp_path):
    assert [parse_value(t) for t in ("12", "0", "-3", "+5", "1e-3", "1.", ".5", "1.0e-05")] == \
        [12, 0, -3, 5, 0.001, 1.0, 0.5, 1e-05]
    p = write(tmp_path, "name: '0o17'\nmodel: {name: mlp}\ndata: {root: '012'}\ntrainer: {batch_size: 12}\n")
    cfg = load_config(p, ["output_dir='1:30'"])
    assert (cfg.name, cfg.data.root, cfg.output_dir, cfg.trainer.batch_size) == ("0o17", "012", "1:30", 12)
    save_config(cfg, tmp_path / "resolved.yaml")  # strings that look like numbers are written quoted
    assert load_config(tmp_path / "resolved.yaml").to_dict() == cfg.to_dict()


@pytest.mark.parametrize("override, message", [
    ("optim.lr=1e39", "optim.lr must be at most 3.403e+38 in size (float32's largest"),
    ("optim.weight_decay=.nan", "optim.weight_decay must be a finite number, got nan"),
    ("optim.lr=-.inf", "optim.lr must be a finite number, got -inf"),
    (f"optim.lr={10 ** 40}", "optim.lr must be at most 3.403e+38 in size"),
])
def test_floats_beyond_float32_or_not_finite_are_refused(tmp_path, override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(write(tmp_path, "model: {name: mlp}\n"), [override])

"""`milestones compare` (leaderboard, papers' numbers, plots) and `milestones tour`. The notebooks, which replaced
notebooks/quickstart.py, run in a Jupyter kernel in tests/test_notebooks.py."""

import csv
import dataclasses
import json
import shutil

import pytest

from milestones import leaderboard, suites
from milestones import fit, tour
from milestones.data.images import load_image_data
from milestones.data.text import load_translation_data
from milestones.plots import write_plots
from milestones.runs import experiment_key, find_runs, group, load_papers, load_run
from milestones.__main__ import main
from milestones.config import config_from_dict


def _seeds(tiny_config, seeds=(0, 1, 2)):
    for s in seeds:
        fit(config_from_dict({**tiny_config, "seed": s, "name": f"tiny_seed{s}"}))


def test_runs_differing_only_by_seed_are_one_row_with_mean_and_std(tiny_config, tmp_path):
    _seeds(tiny_config)
    other = {**tiny_config, "name": "other", "optim": {"name": "adamw", "lr": 1e-3}}
    fit(config_from_dict(other))
    papers = [{"model": "mlp", "data": "mnist", "metric": "test_acc", "value": 98.4, "source": "Somebody 1998, T. 1"}]
    entries = group(find_runs(tmp_path / "runs")[0], papers)
    assert sorted(len(e.runs) for e in entries) == [1, 3]
    three = next(e for e in entries if len(e.runs) == 3)
    accs = [100 * r.results["test_acc"] for r in three.runs]
    mean, std = three.mean_std()
    assert mean == pytest.approx(sum(accs) / 3) and std > 0  # three seeds, three different results
    assert three.paper["value"] == 98.4

    out = tmp_path / "board"
    leaderboard.write_leaderboard(entries, out)
    text = (out / "leaderboard.md").read_text()
    assert f"{mean:.2f} ± {std:.2f}" in text and "98.4 (Somebody 1998)" in text and "Sources:" in text
    rows = list(csv.DictReader(open(out / "leaderboard.csv")))
    assert list(rows[0]) == leaderboard.CSV_COLUMNS and len(rows) == 2
    got = next(r for r in rows if r["seeds"] == "3")  # numbers a spreadsheet sorts, not "98.12 ± 0.31"
    assert float(got["mean"]) == pytest.approx(mean, abs=1e-4) and float(got["std"]) == pytest.approx(std, abs=1e-4)
    assert float(got["paper"]) == 98.4 and got["paper_source"] == "Somebody 1998"
    assert next(r for r in rows if r["seeds"] == "1")["std"] == ""
    plots = write_plots(entries, out)
    assert out / "accuracy_by_era.png" in plots and out / "throughput_by_era.png" in plots
    assert all(p.stat().st_size > 1000 for p in plots)


def test_the_papers_file_has_a_source_for_every_number():
    papers = load_papers()
    assert len(papers) >= 10
    for p in papers:
        assert {"model", "data", "metric", "source"} <= set(p), p
        assert p.get("value") is None or isinstance(p["value"], (int, float))
    resnet = {p["model"]: p["value"] for p in papers if p["data"] == "cifar10" and p["model"].startswith("resnet")}
    assert resnet.get("resnet20") == pytest.approx(91.25) and resnet.get("resnet110") == pytest.approx(93.57)


def test_suites_name_real_configs_with_seeds(tmp_path):
    for suite in suites.SUITES:
        cfgs = suites.suite_configs(suite, 3, tmp_path, [])
        assert {c.seed for c in cfgs} == {0, 1, 2}
        keys = {experiment_key(c) for c in cfgs}
        assert len(cfgs) == 3 * len(keys)  # seeds share a row, configs do not
        assert len(keys) == len(suites.SUITES[suite]) - (suite == "paper")  # Table 6's ResNet-20 serves vit_data too


def test_compare_cli_errors(tmp_path, capsys):
    assert main(["compare", "--runs", str(tmp_path)]) == 2
    assert "no finished runs inside" in capsys.readouterr().err
    assert main(["compare", "--runs", str(tmp_path / "nowhere")]) == 2
    assert "no such folder of runs" in capsys.readouterr().err
    assert main(["compare", "--suite", "quick", "--seeds", "0"]) == 2
    assert "--seeds must be >= 1" in capsys.readouterr().err


def test_compare_cli_gathers_runs(tiny_config, tmp_path, capsys):
    _seeds(tiny_config, seeds=(0, 1))
    assert main(["compare", "--runs", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "| MLP |" in out and "leaderboard.csv" in out
    assert (tmp_path / "runs" / "compare" / "leaderboard.md").is_file()


def test_a_run_folder_that_cannot_be_read_is_named_not_dropped(tiny_config, tmp_path, capsys):
    _seeds(tiny_config, seeds=(0, 1))
    results = tmp_path / "runs" / "tiny_seed1" / "results.json"
    results.write_text(results.read_text()[:30])  # truncated, as by a full disk
    assert main(["compare", "--runs", str(tmp_path / "runs")]) == 0
    said = capsys.readouterr()
    warnings = [l for l in said.err.splitlines() if "warning" in l]
    assert len(warnings) == 1 and "tiny_seed1/results.json: not valid JSON, truncated?" in warnings[0]
    board = (tmp_path / "runs" / "compare" / "leaderboard.md").read_text()
    assert "1 run folder(s) could not be read and are left out" in board and "| 1 |" in board  # one seed left
    assert main(["compare", "--runs", str(tmp_path / "runs"), "--strict"]) == 2


def _set_result(folder, key, value):
    results = json.loads((folder / "results.json").read_text())
    results[key] = value
    (folder / "results.json").write_text(json.dumps(results))  # NaN written as the bare word NaN, as json does


DAMAGES = {  # folder name -> how its copy of a good run is damaged
    "config_not_utf8": lambda f: (f / "config.yaml").write_bytes(b"name: \xff\xfe\n"),
    "config_a_list": lambda f: (f / "config.yaml").write_text("- model\n- data\n"),
    "config_duplicate_key": lambda f: (f / "config.yaml").write_text((f / "config.yaml").read_text() + "seed: 1\n"),
    "metrics_not_object": lambda f: (f / "metrics.jsonl").write_text((f / "metrics.jsonl").read_text() + "[1, 2]\n"),
    "metrics_not_number": lambda f: (f / "metrics.jsonl").write_text('{"epoch": 1, "test_acc": "high"}\n'),
    "results_nan_accuracy": lambda f: _set_result(f, "test_acc", float("nan")),
    "results_text_epochs": lambda f: _set_result(f, "epochs", "two"),
    "results_not_json": lambda f: (f / "results.json").write_text("<html>not json</html>"),
    "results_not_utf8": lambda f: (f / "results.json").write_bytes(b"\xff\xfe{}"),
}


def test_compare_survives_every_damaged_folder_and_follows_links(tiny_config, tmp_path, capsys):
    _seeds(tiny_config, seeds=(0,))
    runs, good = tmp_path / "runs", tmp_path / "runs" / "tiny_seed0"
    for name, damage in DAMAGES.items():
        shutil.copytree(good, runs / name)
        damage(runs / name)
    shutil.copytree(good, tmp_path / "elsewhere" / "kept")
    (runs / "linked").symlink_to(tmp_path / "elsewhere" / "kept")  # a run kept elsewhere: counted
    (runs / "again").symlink_to(good)  # the same folder twice: counted once
    (runs / "linked" / "loop").symlink_to(runs)  # a link back up the tree: not followed round
    capsys.readouterr()
    assert main(["compare", "--runs", str(runs)]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    warnings = [l for l in err.splitlines() if l.strip()]
    assert len(warnings) == len(DAMAGES), err
    for name in DAMAGES:
        assert sum(f"/{name}/" in w and w.startswith("milestones: warning: left out: ") for w in warnings) == 1, name
    board = (runs / "compare" / "leaderboard.md").read_text()
    assert f"{len(DAMAGES)} run folder(s) could not be read" in board
    assert "| 2 | " in board  # the good run and its linked copy, as two seeds of one row
    assert main(["compare", "--runs", str(runs), "--strict"]) == 2
    assert f"{len(DAMAGES)} run folder(s) under" in capsys.readouterr().err


def test_tour_runs_each_stop_prints_its_story_and_writes_the_comparison(tmp_path, monkeypatch, capsys, one_thread):
    """The tour's machinery on three shortened stops (the full offline tour is timed in RESULTS.md)."""
    mlp, lstm, transformer = tour.STOPS[0], tour.STOPS[7], tour.STOPS[-1]
    lstm = dataclasses.replace(lstm, overrides=("data.train_size=2000", "data.seq_len=20", "data.test_size=500"))
    small_mt = ("data.train_size=800", "model.d_model=32", "model.d_ff=64", "model.encoder_layers=1",
                "model.decoder_layers=1")
    monkeypatch.setattr(tour, "STOPS", [dataclasses.replace(mlp, epochs=1), dataclasses.replace(lstm, epochs=1),
                                        dataclasses.replace(transformer, overrides=small_mt, epochs=1)])
    table = tour.tour(output_dir=str(tmp_path / "tour"), progress=False)
    text = capsys.readouterr()
    said = text.out + text.err
    assert "[1/3] 1986 · MLP · mlp on mnist" in said and "Sequence" not in said
    assert "test accuracy" in said and "of test sequences solved" in said and "test BLEU" in said
    assert "彼は背が高い。 ->" in said and "tour done in" in said
    # the shipped weights beside the quick runs: each era's number, and the running example, right
    assert "shipped weights: mlp_mnist: 98.57% on the mnist test set" in said
    assert "彼は背が高い。 -> he is tall.   (the shipped Transformer" in said
    # and it ends with the story judged on the shipped models, not on its seconds-long runs
    assert "The story, judged on the shipped models" in said and "gates carry information" in said
    assert (tmp_path / "tour" / "story.md").read_text().count("| RNN 1997 |") == 2
    assert table.is_file() and len([l for l in table.read_text().splitlines() if l.startswith("| ")]) == 1 + 3  # header + rows
    for png in ("accuracy_by_era.png", "throughput_by_era.png", "adding_curves.png"):
        assert (tmp_path / "tour" / png).stat().st_size > 1000


def test_each_stop_shows_the_shipped_weights_of_its_own_data_set():
    assert tour.shipped_weights("mlp", "cifar10").name == "mlp_cifar10"  # the MLP on photos, not on digits
    assert tour.shipped_weights("mlp", "mnist").name == "mlp_mnist"
    assert tour.shipped_weights("resnet20", "mnist").name == "resnet20_cifar10"  # none on digits: the DEFAULT
    assert tour.shipped_weights("lenet5", "cifar10").name == "lenet5_mnist"


def test_tour_with_a_data_folder_sizes_each_stop_from_the_minutes(tmp_path, data_root, monkeypatch, capsys,
                                                                 one_thread):
    mlp, lstm = tour.STOPS[0], tour.STOPS[7]
    monkeypatch.setattr(tour, "STOPS", [mlp, lstm])
    tour.tour(data_root=str(data_root), minutes=0.02, output_dir=str(tmp_path / "tour"), progress=False)
    said = capsys.readouterr()
    assert f"on {data_root}" in said.out + said.err
    for name in ("01_mlp_mnist", "02_lstm_adding"):
        run = load_run(tmp_path / "tour" / name)
        assert run is not None and run.results["epochs"] >= 1  # at least one epoch, however short the budget
    assert load_run(tmp_path / "tour" / "01_mlp_mnist").results["params"] > 0


def test_every_tour_stop_is_a_shipped_config_in_both_tours(tmp_path):
    """The stops' recipes are ordinary configs (configs/tour/*.yaml), each used by a stop: the offline tour's on the
    package's samples, with a data folder the full data sets' (photos instead of digits where they differ)."""
    used = set()
    for data_root in (None, str(tmp_path / "data")):
        stops = [s for s in tour.STOPS if (s.share if data_root else s.epochs) > 0]
        for i, stop in enumerate(stops, 1):
            cfg = tour.stop_config(stop, i, data_root=data_root, out=tmp_path, epochs=2, seed=1)
            used.add((stop.full_data if data_root and stop.full_data else stop.config) + ".yaml")
            assert cfg.name == f"{i:02d}_{cfg.model.name}_{cfg.data.name}" and cfg.trainer.epochs == 2
            assert cfg.data.root == (data_root or str(tour.SAMPLES)) and cfg.seed == 1
            assert data_root or cfg.data.name in ("mnist", "adding", "small_parallel_enja")
    assert used == {p.name for p in tour.TOUR_CONFIGS.glob("*.yaml")}


def test_suites_repeat_the_removed_experiment_scripts(tmp_path):
    """RESULTS.md's CPU experiments, once scripts/exp_*.py, are suites training the same configs: e.g. Fig. 6's
    four nets with one recipe, only the model changing, and the ViT data study's subsets and epochs."""
    degradation = suites.suite_configs("degradation", 1, tmp_path, ["trainer.epochs=3", "data.train_size=10000"])
    assert [c.model.name for c in degradation] == ["plain20", "plain56", "resnet20", "resnet56"]
    assert {(c.model.args == {}, c.trainer.epochs, c.data.train_size, c.seed) for c in degradation} == {
        (True, 3, 10000, 0)}
    vit = {c.name: c for c in suites.suite_configs("vit_data_cpu", 1, tmp_path, [])}
    v = vit["vit_tiny_cifar10_cpu_n4900_seed0"]
    assert (v.data.val_size, v.trainer.epochs, v.schedule.warmup_epochs) == (1000, 6, 0.1 * 6)
    r = vit["resnet20_cifar10_cpu_n49000_seed0"]
    assert (r.data.train_size, r.trainer.epochs, r.schedule.warmup_epochs) == (49000, 2, 0.1 * 2)
    assert vit["resnet20_cifar10_cpu_n4900_seed0"].schedule.warmup_epochs == 1  # the config's own, under 2.1


def test_the_shipped_samples_load_with_the_ordinary_readers():
    digits = load_image_data("mnist", root=str(tour.SAMPLES), download=False)
    assert digits.train_x.shape == (5000, 1, 28, 28) and digits.test_x.shape == (1000, 1, 28, 28)
    pairs = load_translation_data("small_parallel_enja", root=str(tour.SAMPLES), min_freq=2)
    assert (len(pairs.train.src), len(pairs.val.src), len(pairs.test.src)) == (5000, 200, 500)


def test_a_failed_run_does_not_stop_its_suite(tmp_path, monkeypatch):
    """A suite is a GPU window's worth of runs: one that fails (diverges, say) is reported, the rest still train."""
    from milestones.errors import DivergenceError

    trained = []

    def fit(cfg, **kwargs):
        trained.append(cfg.name)
        if len(trained) == 1:
            raise DivergenceError(f"{cfg.name}: loss became nan")

    monkeypatch.setattr(suites, "fit", fit)
    failures = suites.run_suite("eras", 1, tmp_path, [])
    assert trained == ["alexnet_cifar10_gpu_seed0", "mlp_cifar10_seed0"]
    assert failures == ["alexnet_cifar10_gpu_seed0: loss became nan"]


def test_a_suite_starts_what_fits_the_time_left_not_what_was_planned(tmp_path, monkeypatch, capsys):
    """The plan is an estimate: when earlier runs ran long, a run whose estimate exceeds what is left of
    --budget-minutes is not started (a GPU window's lease would cut it off mid-run), and is named at the end; when
    they ran short, a run the plan had left out starts if it now fits."""
    from types import SimpleNamespace

    from milestones.planner import Planned

    now, trained = [0.0], []

    def fit(cfg, **kwargs):
        trained.append(cfg.name)
        now[0] += 45.0  # each run takes 45 s of the fake clock

    def plan(packs, budget, started):  # 40 s each; the planner expected the third not to fit
        return [Planned(cfgs, False, 40.0, i < 2) for i, (cfgs, _) in enumerate(packs)]

    monkeypatch.setattr(suites, "time", SimpleNamespace(monotonic=lambda: now[0]))
    monkeypatch.setattr(suites, "make_plan", plan)
    monkeypatch.setattr(suites, "fit", fit)
    names = ["lstm_seq2seq_multi30k_gpu_seed0", "rnnsearch_multi30k_gpu_seed0", "transformer_multi30k_gpu_seed0"]
    # 80 s: the first starts with 80 s left; the second would start with 35, under its estimate of 40
    assert suites.run_suite("translators", 1, tmp_path / "a", [], budget_minutes=80 / 60) == []
    out = capsys.readouterr().out
    assert trained == names[:1]
    assert f"[2/3] {names[1]}: not started, 0.6 min of the budget left (estimated 0.7)" in out
    assert f"left out for time: 2 planned pack(s) or run(s) did not start inside the budget: {names[1]}; {names[2]}" in out
    # 140 s: after two runs 50 s are left, enough for the third's 40, which the plan had left out
    trained.clear()
    now[0] = 0.0
    assert suites.run_suite("translators", 1, tmp_path / "b", [], budget_minutes=140 / 60) == []
    out = capsys.readouterr().out
    assert trained == names and f"[3/3] {names[2]} (planned out, but 0.8 min are left)" in out
    assert "left out for time" not in out

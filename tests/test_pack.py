"""Packed training (milestones/pack.py, issue #18): N CIFAR nets as one grouped-convolution net must train each
exactly as `milestones train` trains it alone, write ordinary run folders, and resume alone or packed.

In float64 (the default dtype set for these tests: data, models and losses follow it): in float32 the packed and
lone kernels sum in different orders, and a plain net's batch norm amplifies that to ~1e-2 of a weight in 8 steps,
which would hide a real difference."""

from __future__ import annotations

import time

import pytest
import torch

from milestones.checkpoint import read_checkpoint, read_history, read_results, save_checkpoint
from milestones.config import config_from_dict
from milestones.errors import ConfigError, DivergenceError
from milestones.pack import check_packable, fit_packed
from milestones.train import fit


def config(data_root, out, model="resnet20", seed=0, **trainer):
    return config_from_dict({
        "name": f"{model}_seed{seed}", "output_dir": str(out), "seed": seed,
        "model": {"name": model, "in_channels": 1},
        "data": {"name": "mnist", "root": str(data_root), "train_size": 64, "val_size": 32, "test_size": 32,
                 "download": False, "crop_padding": 2},
        "optim": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4},
        "schedule": {"name": "multistep", "milestones": [1.5]},
        "trainer": {"epochs": 2, "batch_size": 32, "eval_batch_size": 64, "progress": False, "keep_best": "val_acc",
                    **trainer},
    }, where="test")


PAIR = [("resnet20", 0), ("plain20", 1)]  # a residual and a plain net in one pack (He et al. Fig. 6's pair)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_root):
    """Both nets trained alone, packed, and packed for one epoch then resumed: alone for one, packed for both."""
    out = tmp_path_factory.mktemp("pack")
    before, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    try:
        for model, seed in PAIR:
            fit(config(data_root, out / "lone", model, seed))
        fit_packed([config(data_root, out / "packed", m, s) for m, s in PAIR])
        fit_packed([config(data_root, out / "halves", m, s, stop_epoch=1) for m, s in PAIR])
        fit(config(data_root, out / "halves", *PAIR[0]), resume=True)  # the residual net goes on alone
        fit_packed([config(data_root, out / "repacked", m, s, stop_epoch=1) for m, s in PAIR])
        fit_packed([config(data_root, out / "repacked", m, s) for m, s in PAIR], resume=True)
        # the plain net's classifier set to infinity after epoch 1: it diverges in epoch 2, the residual net goes on
        fit_packed([config(data_root, out / "poisoned", m, s, stop_epoch=1) for m, s in PAIR])
        path = out / "poisoned" / "plain20_seed1" / "checkpoint.pt"
        ckpt = read_checkpoint(path)
        ckpt["model"]["fc.weight"].fill_(float("inf"))
        save_checkpoint({k: v for k, v in ckpt.items() if k != "digest"}, path)
        with pytest.raises(DivergenceError) as diverged:
            fit_packed([config(data_root, out / "poisoned", m, s) for m, s in PAIR], resume=True)
        (out / "poisoned" / "error.txt").write_text(str(diverged.value))
    finally:
        torch.set_default_dtype(before)
        torch.set_num_threads(threads)
    return out


def same_training_state(a, b, *, tol=1e-10):
    """Two checkpoints with the same weights, BN statistics, momentum buffers, kept best epoch and schedule."""
    ca, cb = read_checkpoint(a), read_checkpoint(b)
    for key, value in ca["model"].items():
        assert torch.allclose(value.double(), cb["model"][key].double(), atol=tol, rtol=0), (a, key)
    for (ia, sa), (ib, sb) in zip(ca["optimizer"]["state"].items(), cb["optimizer"]["state"].items()):
        assert torch.allclose(sa["momentum_buffer"], sb["momentum_buffer"], atol=tol, rtol=0), (a, ia)
    assert ca["optimizer"]["param_groups"][0]["lr"] == cb["optimizer"]["param_groups"][0]["lr"]
    assert ca["scheduler"]["last_epoch"] == cb["scheduler"]["last_epoch"]
    assert ca["best"]["epoch"] == cb["best"]["epoch"]


def test_packed_nets_train_exactly_as_alone(runs):
    for model, seed in PAIR:
        name = f"{model}_seed{seed}"
        same_training_state(runs / "lone" / name / "checkpoint.pt", runs / "packed" / name / "checkpoint.pt")
        lone, packed = read_history(runs / "lone" / name), read_history(runs / "packed" / name)
        for a, b in zip(lone, packed):
            for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
                assert a[key] == pytest.approx(b[key], abs=1e-9), (name, key)
        r_lone, r_packed = read_results(runs / "lone" / name), read_results(runs / "packed" / name)
        assert r_packed["test_acc"] == r_lone["test_acc"] and r_packed["kept_epoch"] == r_lone["kept_epoch"]
        assert r_packed["packed_with"] == [n for n in ("resnet20_seed0", "plain20_seed1") if n != name]
        assert r_packed["config_hash"] == r_lone["config_hash"]  # the same experiment, as the leaderboard groups it


def test_a_packed_run_resumes_alone_or_packed(runs):
    name = "resnet20_seed0"
    same_training_state(runs / "lone" / name / "checkpoint.pt", runs / "halves" / name / "checkpoint.pt")
    for model, seed in PAIR:
        name = f"{model}_seed{seed}"
        same_training_state(runs / "lone" / name / "checkpoint.pt", runs / "repacked" / name / "checkpoint.pt")
        assert [h["epoch"] for h in read_history(runs / "repacked" / name)] == [1, 2]


def test_a_diverging_net_stops_and_the_rest_of_its_pack_trains_on_exactly(runs):
    """One net's loss becomes NaN: it stops as a lone run would (last good checkpoint kept, no new results), the other
    trains on to the end exactly as alone, and the pack then reports the divergence in one line."""
    assert (runs / "poisoned" / "error.txt").read_text().startswith(
        "1 of 2 packed nets diverged (plain20_seed1: its training loss became nan in epoch 2)")
    same_training_state(runs / "lone" / "resnet20_seed0" / "checkpoint.pt",
                        runs / "poisoned" / "resnet20_seed0" / "checkpoint.pt")
    assert (runs / "poisoned" / "resnet20_seed0" / "results.json").is_file()
    assert read_results(runs / "poisoned" / "plain20_seed1")["epochs"] == 1  # the stop_epoch=1 run's, untouched
    assert [h["epoch"] for h in read_history(runs / "poisoned" / "plain20_seed1")] == [1]
    assert read_checkpoint(runs / "poisoned" / "plain20_seed1" / "checkpoint.pt")["epoch"] == 1


@pytest.mark.parametrize("change, message", [
    ({"model": "resnet32"}, "packed nets share one depth, got [20, 32]"),
    ({"model": "alexnet"}, "only the CIFAR ResNets and plain nets pack"),
    ({"lr": 0.1}, "optim.lr is 0.1, resnet20_seed0's is 0.05: packed runs differ only in seed"),
    ({"grad_clip": 1.0}, "trainer.grad_clip clips the global gradient norm"),
    ({"seed": 0}, "two packed runs would write into one folder"),
])
def test_configs_that_cannot_pack_say_why(tmp_path, data_root, change, message):
    a = config(data_root, tmp_path)
    b = config(data_root, tmp_path, change.get("model", "resnet20"), change.get("seed", 1),
               **({"grad_clip": change["grad_clip"]} if "grad_clip" in change else {}))
    if "grad_clip" in change:
        a = config(data_root, tmp_path, grad_clip=change["grad_clip"])
    if "lr" in change:
        b.optim.lr = change["lr"]
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_packable([a, b])


def suite_overrides(data_root):
    """Table 6's suite (9 CIFAR nets) shrunk to seconds: 64 MNIST digits, one epoch, on the CPU."""
    return [f"data.root={data_root}", "data.name=mnist", "model.in_channels=1", "data.download=false",
            "data.train_size=64", "data.val_size=32", "data.test_size=64", "trainer.epochs=1",
            "trainer.batch_size=32", "trainer.eval_batch_size=64", "trainer.progress=false", "trainer.device=cpu",
            "schedule.milestones=[]"]


def test_the_planner_groups_each_depth_and_keeps_to_the_budget(tmp_path, data_root, one_thread, monkeypatch):
    from milestones import planner
    from milestones.suites import suite_configs
    from milestones.planner import group_packs, make_plan

    cfgs = suite_configs("table6", 2, tmp_path, suite_overrides(data_root))
    packs = group_packs(cfgs, 4)
    # 4 depths x (resnet, plain) x 2 seeds = 4 nets a depth: one pack each, residual and plain together; then
    # ResNet-110's 2 seeds (its config warms up, so it packs with no other depth's anyway)
    assert [len(c) for c, packed in packs] == [4] * 4 + [2] and all(packed for _, packed in packs)
    assert {c.model.name for c in packs[0][0]} == {"resnet20", "plain20"}
    assert [len(c) for c, _ in group_packs(cfgs, 3)] == [3, 1] * 4 + [2]
    free = make_plan(packs[:2], None)
    assert all(p.fits and p.seconds > 0 for p in free)
    estimates = {id(p.cfgs[0]): p.seconds for p in free}  # the same estimates again, without timing them again
    monkeypatch.setattr(planner, "pack_seconds", lambda cfgs, device: estimates[id(cfgs[0])])
    tight = make_plan(packs[:2], free[0].seconds * 1.5)  # room for the first pack only
    assert [p.fits for p in tight] == [True, False]
    spent = make_plan(packs[:1], 1000.0, started=time.monotonic() - 1000.0)  # the planning used up the budget
    assert not spent[0].fits


def test_the_planner_counts_every_evaluation_once_per_packed_net(tmp_path, data_root, one_thread, monkeypatch):
    """Evaluation is timed on the run's real batches and counted for every evaluated epoch (trainer.eval_every) and
    the final test; a pack evaluates each of its nets alone, so its estimate counts that N times."""
    from milestones import planner
    from milestones.timing import Timed, timed_batches

    cfg = config(data_root, tmp_path, eval_every=2, epochs=5, eval_batch_size=16)
    timed = timed_batches(cfg, 1, report=True)
    assert timed.eval_batches == 3 * (32 // 16) + 32 // 16  # epochs 2, 4 and 5 on the validation split, then test
    assert timed.eval_batch_seconds > 0 and timed_batches(cfg, 1).eval_batches == 0  # only when asked
    monkeypatch.setattr(planner, "timed_batches", lambda cfg, steps, report: Timed({}, 4, 10, 0.5, 1.0, 3.0))
    monkeypatch.setattr(planner, "step_seconds", lambda cfgs, device: 0.25)
    pair = [config(data_root, tmp_path, name, seed) for name, seed in PAIR]
    steps = planner.schedule_steps(pair[0])
    assert steps == 2 * 64 // 32
    # one start-up (the data loads once), the packed steps, then each net's evaluations and report
    assert planner.pack_seconds(pair, torch.device("cpu")) == pytest.approx(3.0 + 0.25 * steps + 2 * (10 * 0.5 + 1.0))


def test_the_paper_suite_trains_packed_and_ranks_every_net(tmp_path, data_root):
    from conftest import run_cli

    r = run_cli("compare", "--suite", "table6", "--seeds", "1", "--pack", "2", "--budget-minutes", "60",
                "--set", *suite_overrides(data_root), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "| 1 | resnet20_cifar10_gpu_seed0, plain20_cifar10_gpu_seed0 | 2 | packed |" in r.stdout
    board = (tmp_path / "runs" / "compare_table6" / "leaderboard.md").read_text()
    for depth in (20, 32, 44, 56):
        assert f"| resnet{depth} |" in board and f"| plain{depth} |" in board
    assert "| resnet110 |" in board


def test_packed_runs_evaluate_on_the_epochs_a_lone_run_does(tmp_path, data_root, one_thread):
    """trainer.eval_every: the skipped epochs have no evaluation in a packed run's history either."""
    cfg = dict(eval_every=2, epochs=3, keep_best=None)
    fit(config(data_root, tmp_path / "lone", **cfg))
    fit_packed([config(data_root, tmp_path / "packed", **cfg)])
    lone, packed = (read_history(tmp_path / d / "resnet20_seed0") for d in ("lone", "packed"))
    assert [sorted(r) for r in lone] == [sorted(r) for r in packed]
    assert ["val_acc" in r for r in packed] == [False, True, True]  # epoch 2, and the last


def test_a_packed_run_writes_what_a_lone_run_writes(tmp_path, data_root, one_thread, monkeypatch):
    """A pack runs the trainer's own loop (train.train_runs), so its runs record what a lone run records: the same
    metrics.jsonl and results.json keys (but `packed_with`), diagnostics and top-5 included where they apply, and
    TensorBoard scalars. MNIST's 10 classes have no top-5 and classification no diagnostics: both are switched on
    here (top-5 from 5 classes, the loss once more as a diagnostic) to see them go through."""
    import dataclasses
    import importlib.util

    from milestones.tasks import TASKS, classification

    monkeypatch.setattr(classification, "TOP5_FROM_CLASSES", 5)
    monkeypatch.setitem(TASKS, "classification", dataclasses.replace(
        TASKS["classification"], diagnostics={"again": classification.classification_step}))
    tensorboard = importlib.util.find_spec("tensorboard") is not None
    cfg = dict(epochs=1, tensorboard=tensorboard)
    r_lone = fit(config(data_root, tmp_path / "lone", **cfg))
    r_packed = fit_packed([config(data_root, tmp_path / "packed", m, s, **cfg) for m, s in PAIR])[0]
    assert {"test_acc5", "test_loss_again", "kept_epoch"} <= set(r_lone)
    assert set(r_packed) == set(r_lone) | {"packed_with"}
    lone, packed = (read_history(tmp_path / d / "resnet20_seed0") for d in ("lone", "packed"))
    assert {"val_acc5", "val_loss_again"} <= set(lone[0]) and [sorted(r) for r in lone] == [sorted(r) for r in packed]
    if tensorboard:
        assert list((tmp_path / "packed" / "plain20_seed1" / "tensorboard").glob("events.out.tfevents.*"))


def test_the_paper_suite_holds_every_claim_once_and_shrinks_in_proportion(tmp_path):
    """`--suite paper` = Table 6 + the ViT data study + AlexNet vs MLP + the translators, a shared run listed once;
    `--scale` shortens each schedule and its data, keeping the data study's proportions and the paper's model."""
    from milestones.suites import SUITES, suite_configs

    full = {c.name: c for c in suite_configs("paper", 1, tmp_path, [])}
    assert len(full) == len(SUITES["paper"]) - 1  # ResNet-20 on all the data: Table 6's run serves the data study
    assert {"resnet110_cifar10_gpu_seed0", "vit_tiny_cifar10_gpu_n4500_seed0", "alexnet_cifar10_gpu_seed0",
            "mlp_cifar10_seed0", "transformer_multi30k_gpu_seed0"} <= set(full)
    small = {c.name: c for c in suite_configs("paper", 1, tmp_path, [], scale=0.002)}
    r20, r20_small = full["resnet20_cifar10_gpu_seed0"], small["resnet20_cifar10_gpu_seed0"]
    assert (r20_small.trainer.epochs, r20_small.schedule.milestones) == (1, [0.5, 1 * 136 / 182])
    assert r20_small.model == r20.model and r20_small.trainer.batch_size == r20.trainer.batch_size
    sizes = [small[f"vit_tiny_cifar10_gpu{n}_seed0"].data.train_size for n in ("_n4500", "_n13500", "")]
    assert sizes == [26, 77, 256]  # 10% / 30% / 100%, the whole set kept at two batches of 128
    assert small["transformer_multi30k_gpu_seed0"].data.test_size < 1000
    with pytest.raises(ConfigError, match=r"--scale must be in \(0, 1\], got 2"):
        suite_configs("eras", 1, tmp_path, [], scale=2)


def test_the_vit_data_study_runs_on_a_cpu_at_a_small_scale(tmp_path):
    """The GPU suite's ViT data study, planned (lone runs estimated from their own timed batches) and trained at
    1/500 of its schedule on the CPU: a leaderboard row per model and data size, and the data-size plot."""
    from conftest import run_cli

    r = run_cli("compare", "--suite", "vit_data", "--scale", "0.002", "--seeds", "1", "--budget-minutes", "30",
                "--set", "trainer.progress=false", "trainer.eval_batch_size=250", "trainer.device=cpu", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "| vit_tiny_cifar10_gpu_n4500_seed0 | 1 | alone |" in r.stdout and "0 run(s) left out" in r.stdout
    board = (tmp_path / "runs" / "compare_vit_data" / "leaderboard.md").read_text()
    for model in ("resnet20", "vit_tiny"):
        for size in (26, 77, 256):
            assert f"| {model} | cifar10 ({size} train) |" in board
    assert board.count("- resnet20 / cifar10: 91.25") == 1  # one paper number beside three data sizes, cited once
    assert (tmp_path / "runs" / "compare_vit_data" / "accuracy_by_data_size.png").is_file()


def test_the_gpu_window_script_runs_every_step_on_a_cpu(tmp_path):
    """scripts/gpu/gpu_paper_suite.sh is what a lent GPU runs, once: its dry run on the CPU (DEVICE=cpu, a tiny
    suite at --scale 0.002) takes every step (data, both benches, the planned suite, the gathering) and bundles them as
    the device tool brings files back: at most 8 files, one tarball holding the run folders without checkpoints."""
    import os
    import subprocess
    import sys
    import tarfile

    from conftest import REPO

    env = {**os.environ, "DEVICE": "cpu", "SUITE": "eras", "SCALE": "0.002", "DEADLINE": "400", "PACK": "2",
           "ROOT": str(tmp_path), "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    r = subprocess.run(["bash", "scripts/gpu/gpu_paper_suite.sh", str(tmp_path / "out")], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "bench_graphs_table.md", "bench_pack_table.md", "compare_claims.md", "compare_leaderboard.md",
        "console_bench_suite.log", "gpu_paper_bench_suite.tar.gz"]
    assert "| resnet20 | trainer, 1 net |" in (out / "bench_pack_table.md").read_text()
    assert "| vit_tiny | packed x2, eager |" in (out / "bench_graphs_table.md").read_text()
    board = (out / "compare_leaderboard.md").read_text()
    assert "| alexnet |" in board and "| mlp |" in board
    log = (out / "console_bench_suite.log").read_text()
    assert "planned:" in log and "== suite ended with exit code 0" in log
    with tarfile.open(out / "gpu_paper_bench_suite.tar.gz") as tar:
        names = tar.getnames()
    assert "runs/suite_eras/alexnet_cifar10_gpu_seed0/results.json" in names
    assert "runs/gpu_paper/compare/leaderboard.md" in names and not any(n.endswith(".pt") for n in names)

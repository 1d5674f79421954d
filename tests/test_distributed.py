"""DistributedDataParallel on CPU (gloo), started by torchrun exactly as a user would."""

import json
import sys

import pytest
import torch
import yaml

from milestones import read_checkpoint
from milestones.distributed import GlobalBatchNorm, sync_batchnorm

from conftest import run_cli


def torchrun(*args: str, nproc: int = 2):
    import os
    import subprocess

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "milestones", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


def test_two_process_ddp_matches_one_process_on_the_same_global_batch(tmp_path, tiny_config):
    tiny_config["model"]["dropout"] = 0.0  # dropout masks come from each rank's own RNG stream
    tiny_config["data"].update(crop_padding=2, flip=True)  # augmentation is drawn per global batch: it may stay
    tiny_config["optim"] = {"name": "sgd", "lr": 0.05, "momentum": 0.9}
    tiny_config["schedule"] = {"name": "constant"}
    tiny_config["trainer"].update(batch_size=64, threads=1)
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(tiny_config))

    single = run_cli("train", str(cfg), "--set", "name=single")
    assert single.returncode == 0, single.stderr

    # DDP for one epoch, then resumed under DDP for the second: resume must work there too
    first = torchrun("train", str(cfg), "--set", "name=ddp", "--set", "trainer.epochs=1")
    assert first.returncode == 0, first.stderr[-2000:]
    second = torchrun("train", str(cfg), "--set", "name=ddp", "--resume")
    assert second.returncode == 0, second.stderr[-2000:]

    runs = tmp_path / "runs"
    a = read_checkpoint(runs / "single" / "checkpoint.pt")["model"]
    b = read_checkpoint(runs / "ddp" / "checkpoint.pt")["model"]
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5), k
    rows_a = [json.loads(l) for l in (runs / "single" / "metrics.jsonl").read_text().splitlines()]
    rows_b = [json.loads(l) for l in (runs / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows_b) == 2  # only rank 0 writes
    for ra, rb in zip(rows_a, rows_b):
        assert ra["train_loss"] == pytest.approx(rb["train_loss"], rel=1e-4)
        assert ra["test_acc"] == pytest.approx(rb["test_acc"], abs=1 / 256)
    assert json.loads((runs / "ddp" / "results.json").read_text())["processes"] == 2


def test_ddp_global_batch_must_divide_among_processes(tmp_path, tiny_config):
    tiny_config["trainer"]["batch_size"] = 63
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(tiny_config))
    r = torchrun("train", str(cfg))
    assert r.returncode != 0
    assert "trainer.batch_size 63 (the global batch) must divide evenly among 2 processes" in r.stderr
    assert "milestones: error: trainer.batch_size" in r.stderr  # our one line, from each rank (torchrun adds its own report)


def test_ddp_streams_each_rank_its_share_of_a_folder_and_resume_auto_continues(tmp_path):
    """Streamed folder data under torchrun: each rank decodes only its half of every global batch, and the result
    is one process's; `--resume auto` starts the run, and continues it when relaunched with the same arguments."""
    from test_folders import folder_config, write_tree

    raw = folder_config(tmp_path, write_tree(tmp_path / "tree"))
    raw["optim"] = {"name": "sgd", "lr": 0.05, "momentum": 0.9}
    raw["trainer"].update(epochs=2, threads=1)
    cfg = tmp_path / "folder.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    single = run_cli("train", str(cfg), "--set", "name=single", env={"OMP_NUM_THREADS": "1"})
    assert single.returncode == 0, single.stderr
    for epochs in (1, 2):  # a first launch, then a "restart" with the same arguments and a longer schedule
        r = torchrun("train", str(cfg), "--set", "name=ddp", f"trainer.epochs={epochs}", "--resume", "auto")
        assert r.returncode == 0, r.stderr[-2000:]
    a = read_checkpoint(tmp_path / "runs" / "single" / "checkpoint.pt")["model"]
    b = read_checkpoint(tmp_path / "runs" / "ddp" / "checkpoint.pt")["model"]
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5), k


def _folder_run(tmp_path, epochs: int, **trainer):
    from test_folders import folder_config, write_tree

    raw = folder_config(tmp_path, write_tree(tmp_path / "tree"))
    raw["optim"] = {"name": "sgd", "lr": 0.05, "momentum": 0.9}
    raw["trainer"].update(epochs=epochs, threads=1, **trainer)
    if trainer.get("sync_bn"):  # a batch-norm net: He et al.'s 6n+2 ResNet at its smallest depth
        raw["model"] = {"name": "resnet", "depth": 8, "num_classes": 3}
    cfg = tmp_path / "folder.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    single = run_cli("train", str(cfg), "--set", "name=single", env={"OMP_NUM_THREADS": "1"})
    assert single.returncode == 0, single.stderr
    return cfg, read_checkpoint(tmp_path / "runs" / "single" / "checkpoint.pt")["model"]


def _same(a: dict, b: dict) -> None:
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5), k


def test_two_nodes_on_localhost_match_one_process_with_sync_bn(tmp_path):
    """Two torchrun 'nodes' (one process each) meeting through the c10d rendezvous, as on a cluster, train a
    batch-norm ResNet with trainer.sync_bn (GlobalBatchNorm on gloo): the weights and running statistics are one
    process's on the same global batch. Without sync_bn each node normalises over its own half batch and they are
    not (which shows the comparison can fail)."""
    import os
    import socket
    import subprocess

    cfg, single = _folder_run(tmp_path, epochs=2, sync_bn=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def two_nodes(name: str, *sets: str) -> dict:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1",
               "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}", f"--rdzv-id={name}", "-m", "milestones",
               "train", str(cfg), "--set", f"name={name}", *sets]
        nodes = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                 for _ in range(2)]
        outs = [n.communicate(timeout=300) for n in nodes]
        assert all(n.returncode == 0 for n in nodes), outs[0][1][-2000:] + outs[1][1][-2000:]
        return read_checkpoint(tmp_path / "runs" / name / "checkpoint.pt")["model"]

    synced = two_nodes("nodes")
    assert any("running_var" in k for k in single)
    _same(single, synced)
    per_rank = two_nodes("nodes_local_bn", "trainer.sync_bn=false")
    assert not all(torch.allclose(single[k], per_rank[k], rtol=1e-4, atol=1e-5) for k in single)


def test_a_killed_rank_is_restarted_and_the_run_ends_as_if_never_killed(tmp_path):
    """torchrun --max-restarts=1 with `--resume auto`: SIGKILL one worker once epoch 1 is logged; torchrun restarts
    both, they continue from the last checkpoint, and the final weights equal an uninterrupted run's."""
    import os
    import signal
    import subprocess
    import time

    cfg, single = _folder_run(tmp_path, epochs=6)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "--max-restarts=1",
           "-m", "milestones", "train", str(cfg), "--set", "name=elastic", "--resume", "auto"]
    run = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
    metrics = tmp_path / "runs" / "elastic" / "metrics.jsonl"
    deadline = time.time() + 120
    while not (metrics.is_file() and metrics.read_text().strip()) and time.time() < deadline:
        time.sleep(0.05)
    workers = subprocess.run(["pgrep", "-P", str(run.pid)], capture_output=True, text=True).stdout.split()
    assert workers, "no worker processes found"
    os.kill(int(workers[-1]), signal.SIGKILL)
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err[-3000:]
    assert "resuming" in out + err  # the restarted workers continued, not started over
    _same(single, read_checkpoint(tmp_path / "runs" / "elastic" / "checkpoint.pt")["model"])


@pytest.mark.parametrize("device_type, layer", [("cpu", GlobalBatchNorm), ("cuda", torch.nn.SyncBatchNorm)])
def test_sync_bn_keeps_the_checkpoint_format(device_type, layer):
    """trainer.sync_bn swaps every BatchNorm for a global-batch one (torch's SyncBatchNorm on CUDA, which refuses
    CPU tensors; GlobalBatchNorm elsewhere): same state_dict keys and the very same tensors, so its checkpoints load
    anywhere; in one process GlobalBatchNorm is BatchNorm."""
    from milestones import create_model

    model = create_model("resnet18", num_classes=10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    synced = sync_batchnorm(model, device_type)
    assert sum(isinstance(m, layer) for m in synced.modules()) == 20
    assert not any(type(m) is torch.nn.BatchNorm2d for m in synced.modules())
    assert list(synced.state_dict()) == list(before)
    if device_type == "cpu":
        reference = create_model("resnet18", num_classes=10)
        reference.load_state_dict(before)
        x = torch.randn(4, 3, 32, 32)
        assert torch.equal(synced.train()(x), reference.train()(x))
        for k, v in reference.state_dict().items():
            assert torch.equal(synced.state_dict()[k], v), k

"""Training throughput of CIFAR nets alone and packed (milestones/pack.py), as images/s, TFLOP/s and % of a peak.

    python scripts/bench/bench_pack.py --device cuda --models resnet20 resnet56 --packs 1 8 16 32 64 \
        --peak-tflops 790 --output docs/results/bench_pack

For each model and pack width N: N nets of that depth as one PackedResNet (N = 1 is one net, the same
kernels as a lone run), or for ViT / MLP N copies stacked and vmapped (torch.func), take `--steps` timed training
steps (after warm-up) on random 32x32 images, batch 128 per net; with --compile MODE each pack is timed again
under torch.compile (reduce-overhead: CUDA graphs of the forward and backward), and with --graph as one CUDA
graph of the whole step, optimizer update included (whole_step_graph). cuDNN's algorithm search is on, as in
training (trainer.cudnn_benchmark). A variant that fails is a row saying why; the tables are rewritten after
every row, so a run stopped at a time limit keeps what it measured. SGD with momentum, bf16 autocast (+
channels_last with --channels-last); images/s counts every net's images. FLOPs per step come from
torch.utils.flop_counter on one step (forward + backward; the optimizer's elementwise work is not counted), so
TFLOP/s is achieved arithmetic and its share of `--peak-tflops` (H200 dense
bf16: ~790) is the fraction of the chip in use. With --lone, also the trainer's own path for one net
(train.train_one_epoch over on-device batches), the "today" column of issue #18. Never needed by the tests;
`--device cpu --packs 1 2 --steps 3` is a dry run.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap
from torch.utils.flop_counter import FlopCounterMode

from milestones.leaderboard import markdown_table, write_outputs
from milestones.models import create_model
from milestones.models.packed import PackedResNet
from milestones.pack import PACKABLE
from milestones.planner import seconds_per_call
from milestones.runtime import hardware, run_precision, set_cudnn_benchmark
from milestones.tasks.classification import classification_step
from milestones.train import train_one_epoch


def packed_step(name: str, n: int, batch: int, device: torch.device, precision: str, channels_last: bool,
                compile_mode: Optional[str] = None, graph: bool = False):
    """A closure running one training step of n packed nets. CIFAR ResNets / plain nets: one PackedResNet (grouped
    convolutions, models/packed.py). Any other model (no batch norm: ViT, MLP): n copies stacked with
    torch.func.stack_module_state and run under vmap, so each linear layer becomes one batched matmul."""
    x = torch.randn(batch, n, 3, 32, 32, device=device)  # (B, N, C, H, W): net i's batch in x[:, i]
    y = torch.randint(0, 10, (batch, n), device=device)  # (B, N)
    if name in PACKABLE:
        net = PackedResNet(n, PACKABLE[name]).to(device)
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
        forward, params = net, list(net.parameters())
    else:
        models = [create_model(name).to(device) for _ in range(n)]
        stacked, buffers = stack_module_state(models)  # {name: (N, ...)} leaves that train
        base = copy.deepcopy(models[0]).to("meta")  # the function's shape only; the weights come from `stacked`

        def one(p: dict, b: dict, xi: torch.Tensor) -> torch.Tensor:
            return functional_call(base, (p, b), (xi,))

        def forward(xs: torch.Tensor) -> torch.Tensor:  # (B, N, C, H, W) -> (B, N, classes)
            return vmap(one, in_dims=(0, 0, 1), out_dims=1, randomness="different")(stacked, buffers, xs)

        params = list(stacked.values())
    if compile_mode:
        forward = torch.compile(forward, mode=compile_mode)
    fused = {"fused": True} if device.type == "cuda" else {}
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9, weight_decay=1e-4, **fused)

    def step() -> None:
        # autocast's cast cache would hold tensors across a CUDA graph's capture (PyTorch's CUDA graph notes)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16", cache_enabled=not graph):
            out = forward(x)  # (B, N, 10)
        loss = F.cross_entropy(out.float().permute(0, 2, 1), y, reduction="none").mean(0).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return whole_step_graph(step) if graph else step


def whole_step_graph(step: Callable[[], None]) -> Callable[[], None]:
    """`step` (forward, backward and optimizer update) captured as ONE CUDA graph and replayed as one launch, the
    whole-network capture of PyTorch's CUDA graph notes: warm-up steps on a side stream (allocations, cuDNN's
    search, the optimizer's momentum buffers), then the capture; the gradients, set to None inside the step, are
    allocated from the graph's memory pool at capture and written again at every replay. The step's inputs are
    the same static tensors at every replay, as these timings need (a trainer would copy each batch into them)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph.replay


def flops_of(step) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops()


def lone_trainer_rate(model_name: str, batch: int, steps: int, device: torch.device, precision: str) -> float:
    """Images/s of the trainer's own loop (train_one_epoch) for one net on on-device random batches."""
    model = create_model(model_name).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    batches = [(torch.randn(batch, 3, 32, 32, device=device), torch.randint(0, 10, (batch,), device=device))
               for _ in range(steps + 3)]
    train_one_epoch(model, batches[:3], opt, sched, step_fn=classification_step, device=device, precision=precision,
                    progress=False)
    out = train_one_epoch(model, batches[3:], opt, sched, step_fn=classification_step, device=device,
                          precision=precision, progress=False)
    return out["samples_per_s"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--models", nargs="+", default=["resnet20", "resnet56"],
                   choices=[*sorted(PACKABLE), "vit_tiny", "vit_small", "mlp"])
    p.add_argument("--packs", type=int, nargs="+", default=[1, 8, 16, 32, 64])
    p.add_argument("--batch-size", type=int, default=128, help="images per net per step")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--peak-tflops", type=float, default=790.0, help="the device's dense peak at this precision")
    p.add_argument("--lone", action="store_true", help="also the trainer's own loop for one net")
    p.add_argument("--compile", dest="compile_mode", choices=["default", "reduce-overhead", "max-autotune"],
                   help="also time each pack under torch.compile in this mode (reduce-overhead: CUDA graphs)")
    p.add_argument("--graph", action="store_true", help="also time each pack as one CUDA graph of the whole step "
                   "(forward, backward, update); CUDA only")
    p.add_argument("--no-cudnn-benchmark", dest="cudnn_benchmark", action="store_false",
                   help="cuDNN's heuristic convolution algorithms instead of its timed search (trainer.cudnn_benchmark)")
    p.add_argument("--output", default="runs/bench_pack")
    args = p.parse_args()
    device = torch.device(args.device)
    if args.graph and device.type != "cuda":
        p.error("--graph captures CUDA graphs: it needs --device cuda")
    precision = run_precision(device, args.precision)
    set_cudnn_benchmark(device, args.cudnn_benchmark)
    intro = (f"{hardware(device)}, torch {torch.__version__}, {precision}"
             f"{', channels_last' if args.channels_last else ''}"
             f"{', cuDNN benchmark' if device.type == 'cuda' and args.cudnn_benchmark else ''}; batch "
             f"{args.batch_size} per net; {args.steps} timed steps after 3 warm-up steps; random 32x32 images.")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    rows, results = [], []

    def save(show: bool = False) -> None:  # after every row: a run stopped at a time limit keeps what it measured
        table = markdown_table(["model", "how", "training images/s (all nets)", "vs the first row",
                                "achieved TFLOP/s", f"% of {args.peak_tflops:g} TFLOP/s"], rows)
        write_outputs(out, table, {"runs": results, "args": vars(args)}, intro, show=show)

    variants = [("eager", None, False)] + ([("whole-step CUDA graph", None, True)] if args.graph else []) + (
        [(f"compiled ({args.compile_mode})", args.compile_mode, False)] if args.compile_mode else [])
    for name in args.models:
        base = None
        if args.lone:
            rate = lone_trainer_rate(name, args.batch_size, args.steps, device, precision)
            rows.append([name, "trainer, 1 net", f"{rate:,.0f}", "1.00x", "-", "-"])
            results.append({"model": name, "pack": 0, "images_per_s": rate})
            base = rate
            save()
        for n in args.packs:
            try:
                flops = flops_of(packed_step(name, n, args.batch_size, device, precision, args.channels_last))
            except torch.OutOfMemoryError:
                rows.append([name, f"packed x{n}", "out of memory", "-", "-", "-"])
                save()
                continue
            for label, mode, graph in variants:
                how = f"packed x{n}, {label}"
                try:
                    step = packed_step(name, n, args.batch_size, device, precision, args.channels_last, mode, graph)
                    seconds = seconds_per_call(step, device, warmup=3, timed=args.steps)
                except torch.OutOfMemoryError:
                    rows.append([name, how, "out of memory", "-", "-", "-"])
                    continue
                except Exception as e:  # one variant that fails (e.g. a capture) must not cost the window's others
                    rows.append([name, how, f"failed: {type(e).__name__}: {str(e).splitlines()[0][:80]}",
                                 "-", "-", "-"])
                    print(rows[-1], flush=True)
                    continue
                finally:
                    step = None
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                        torch.cuda.empty_cache()
                rate = n * args.batch_size / seconds
                base = base or rate
                tflops = flops / seconds / 1e12
                rows.append([name, how, f"{rate:,.0f}", f"{rate / base:.2f}x", f"{tflops:.1f}",
                             f"{100 * tflops / args.peak_tflops:.2f}%"])
                results.append({"model": name, "pack": n, "variant": label, "compile": mode, "graph": graph,
                                "images_per_s": rate, "step_seconds": seconds, "flops_per_step": flops,
                                "tflops": tflops})
                print(rows[-1], flush=True)
                save()
    save(show=True)


if __name__ == "__main__":
    main()

"""Does keeping freed memory (runtime.keep_freed_memory: glibc mallopt) speed up CPU training? An A/B on the real trainer.

    python scripts/bench/bench_malloc.py --config configs/resnet20_cifar10_cpu.yaml --images 12800 --rounds 3

Each round trains one short epoch (`--images` training images, evaluated on 128 test images) twice, each in a
fresh process: once with glibc's default malloc settings, once with keep_freed_memory(). The variants alternate,
so a VM whose speed drifts affects both alike. Prints the training images/s and the process's system CPU time (the page
faults that keep_freed_memory removes are kernel time) for every run, then the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile

CHILD = """
import json, resource, sys
import milestones.train as train
from milestones.checkpoint import read_history
from milestones.configfile import load_config
if sys.argv[1] == "default":
    train.keep_freed_memory = lambda: False  # fit() calls it on CPU (train.py imports it); here it does nothing
cfg = load_config(sys.argv[2], [f"data.train_size={sys.argv[3]}", "trainer.epochs=1", "trainer.eval_every=1",
                                "data.test_size=128", f"output_dir={sys.argv[4]}", "name=" + sys.argv[1],
                                "trainer.device=cpu"])
train.fit(cfg, overwrite=True, command="python scripts/bench/bench_malloc.py (its child: " + sys.argv[1] + ")")
history = read_history(cfg.run_dir)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"img_s": history[-1]["samples_per_s"], "sys_s": usage.ru_stime, "user_s": usage.ru_utime}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/resnet20_cifar10_cpu.yaml")
    p.add_argument("--images", type=int, default=12800, help="training images per run (one epoch)")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    runs: dict[str, list[dict]] = {"default": [], "keep": []}
    with tempfile.TemporaryDirectory() as out:
        for r in range(args.rounds):
            for variant in ("default", "keep") if r % 2 == 0 else ("keep", "default"):
                proc = subprocess.run([sys.executable, "-c", CHILD, variant, args.config, str(args.images), out],
                                      capture_output=True, text=True)
                if proc.returncode != 0:
                    sys.exit(f"bench_malloc: the {variant} run failed: {proc.stderr.strip().splitlines()[-1]}")
                m = json.loads(proc.stdout.strip().splitlines()[-1])
                runs[variant].append(m)
                print(f"round {r + 1} {variant:8s} {m['img_s']:7.0f} img/s  system {m['sys_s']:5.2f} s  "
                      f"user {m['user_s']:6.1f} s", flush=True)
    for variant, ms in runs.items():
        print(f"median {variant:8s} {statistics.median(m['img_s'] for m in ms):7.0f} img/s  system "
              f"{statistics.median(m['sys_s'] for m in ms):5.2f} s")


if __name__ == "__main__":
    main()

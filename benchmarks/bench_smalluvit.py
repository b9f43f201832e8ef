"""SmallUViT training throughput at the `lite` size (256 x 256): eager fp32 against bf16 autocast + torch.compile.

Both variants run the same training step (forward, redmean loss, backward, AdamW) on the paper's
configuration, side by side in one run, on the GPU when one is present, else on the CPU.

    python benchmarks/bench_smalluvit.py [--size 256] [--batch 64] [--steps 20]
"""

import argparse
import json
import time

import torch

import record
from xrfnb import device
from xrfnb.metrics import srgb_loss
from xrfnb.smalluvit import SmallUViT, SmallUViTConfig


def images_per_second(size: int, batch: int, steps: int, dev: str, fast: bool) -> float:
    torch.manual_seed(0)
    model = SmallUViT(SmallUViTConfig(image_size=size)).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x, y = torch.randn(batch, 3, size, size, device=dev), torch.rand(batch, 3, size, size, device=dev)
    forward = torch.compile(model) if fast else model

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=fast):
            pred = forward(x)
        srgb_loss(pred.float(), y).backward()
        opt.step()

    for _ in range(3):  # warm-up (and compilation)
        step()
    if dev == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if dev == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    dev = device.torch_device("auto")
    if dev == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # a true fp32 baseline
    eager = images_per_second(args.size, args.batch, args.steps, dev, fast=False)
    fast = images_per_second(args.size, args.batch, args.steps, dev, fast=True)
    results = {"device": device.describe(), "size": args.size, "batch": args.batch, "steps": args.steps,
               "eager_fp32_images_per_s": eager, "bf16_compile_images_per_s": fast, "speedup": fast / eager}
    print(json.dumps(results, indent=2))
    record.save(f"smalluvit_{args.size}px", results)


if __name__ == "__main__":
    main()

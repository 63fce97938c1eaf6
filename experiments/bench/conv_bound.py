"""How long the paper-size UNet's convolutions and attention products alone
take on this CPU: a lower bound for one scoring forward pass.

    OMP_WAIT_POLICY=PASSIVE python3 experiments/bench/conv_bound.py [THREADS] [DTYPE] [REPS] [paper|demo]

Builds the paper's UNet (experiments/bench/adm_reference.py: 256 px, 256
channels, mult 1,1,2,2,4,4, 2 blocks per level, attention at 32/16/8, 64
channels per head, the feature head at output block 10) with random
weights, records the input shape of every Conv2d and of every attention
matmul of one forward pass at batch 1, then times each distinct shape alone
in DTYPE (bf16 or fp32; default bf16, as score.precision bf16) on THREADS
threads (default 2), median of REPS runs (default 5) after one untimed run.
The sum over the forward's calls is what the convolutions and attention
cost with nothing else (no GroupNorm, SiLU, casts, memory traffic between
layers); compare it with bench_score's ms per image / timesteps per image.

Then times, alone, the per-layer work between two convolutions on the
largest activation (GroupNorm and SiLU in fp32 and in bf16, the casts).
`demo` instead of the default `paper` builds the demo UNet (64 px, 32
channels), for a quick check of the script.

Prints one line per shape (count, GFLOP, ms, GFLOP/s) and the totals.
Uses python3-torch (Debian's CPU libtorch, the same oneDNN as ddad).
"""
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from adm_reference import ADMUNet  # noqa: E402


def main():
    usage = "usage: conv_bound.py [THREADS] [bf16|fp32] [REPS] [paper|demo]"
    a = sys.argv[1:] + [None] * (4 - len(sys.argv[1:]))
    dtypes = {"bf16": torch.bfloat16, "fp32": torch.float32}
    if len(sys.argv) > 5 or (a[1] or "bf16") not in dtypes or (a[3] or "paper") not in ("paper", "demo") or \
            not all(v is None or v.isdigit() and int(v) > 0 for v in (a[0], a[2])):
        print(usage, file=sys.stderr)
        sys.exit(2)
    threads, dtype, reps = int(a[0] or 2), dtypes[a[1] or "bf16"], int(a[2] or 5)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    paper = (a[3] or "paper") == "paper"
    size = 256 if paper else 64
    model = (ADMUNet(256, 256, [1, 1, 2, 2, 4, 4], 2, [32, 16, 8], 64, 15, 10) if paper
             else ADMUNet(64, 32, [1, 2, 2, 2], 1, [8], 32, 6, 2)).eval()
    convs = {}  # (module type, input shape, out channels, kernel, stride, padding) -> calls

    def hook(mod, inp, out):
        key = (type(mod).__name__, tuple(inp[0].shape), mod.out_channels, mod.kernel_size, mod.stride, mod.padding)
        convs[key] = convs.get(key, 0) + 1

    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            m.register_forward_hook(hook)
    matmuls = {}  # (equation, shape a, shape b) -> calls: the attention blocks' two einsums
    real_einsum = torch.einsum

    def einsum(eq, *ops):
        if len(ops) == 2:
            key = (eq, tuple(ops[0].shape), tuple(ops[1].shape))
            matmuls[key] = matmuls.get(key, 0) + 1
        return real_einsum(eq, *ops)

    torch.einsum = einsum
    with torch.no_grad():
        model(torch.randn(1, 3, size, size), torch.tensor([20]), torch.tensor([0]), size // 4)
    torch.einsum = real_einsum

    def timed(fn):
        fn()
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return sorted(ts)[len(ts) // 2]

    rows = []  # (label, calls, GFLOP per call, ms per call)
    with torch.no_grad():
        for (kind, shape, out_ch, k, stride, pad), n in convs.items():
            x = torch.randn(shape).to(dtype)
            w = torch.randn(out_ch, shape[1], *k).to(dtype)
            conv = F.conv2d if kind == "Conv2d" else F.conv1d
            ms = 1000 * timed(lambda: conv(x, w, stride=stride, padding=pad))
            out_sp = [(shape[2 + i] + 2 * pad[i] - k[i]) // stride[i] + 1 for i in range(len(k))]
            macs = shape[0] * out_ch * shape[1] * math.prod(k) * math.prod(out_sp)
            rows.append(("%s %s -> %d, k%s s%d" % (kind, list(shape), out_ch, "x".join(map(str, k)), stride[0]), n,
                         2e-9 * macs, ms))
        for (eq, sa, sb), n in matmuls.items():
            a, b = torch.randn(sa).to(dtype), torch.randn(sb).to(dtype)
            ms = 1000 * timed(lambda: torch.einsum(eq, a, b))
            ins, out = eq.split("->")
            dims = {c: d for term, sh in zip(ins.split(","), (sa, sb)) for c, d in zip(term, sh)}
            macs = math.prod(dims[c] for c in set(ins.replace(",", "")))  # every index once: out x contracted
            rows.append(("attention %s %s x %s" % (eq, list(sa), list(sb)), n, 2e-9 * macs, ms))
    print("%-58s %5s %8s %9s %9s" % ("operation (batch 1)", "calls", "GFLOP", "ms", "GFLOP/s"))
    for label, n, gf, ms in sorted(rows, key=lambda r: -r[1] * r[3]):
        print("%-58s %5d %8.2f %9.2f %9.0f" % (label, n, gf, ms, gf / ms * 1000))
    total_gf = sum(n * gf for _, n, gf, _ in rows)
    total_ms = sum(n * ms for _, n, _, ms in rows)
    # the work between two convolutions, on the forward's largest activation
    big = max((shape for (kind, shape, *_), _ in convs.items() if kind == "Conv2d"), key=math.prod)
    xb = torch.randn(big)
    xb = xb[:, :xb.shape[1] // 32 * 32] if xb.shape[1] >= 32 else xb
    if xb.shape[1] >= 32:
        x16, ch = xb.to(torch.bfloat16), xb.shape[1]
        w32, b32 = torch.ones(ch), torch.zeros(ch)
        with torch.no_grad():
            for label, fn in (("GroupNorm fp32", lambda: F.group_norm(xb, 32, w32, b32, 1e-5)),
                              ("GroupNorm bf16", lambda: F.group_norm(x16, 32, w32.bfloat16(), b32.bfloat16(), 1e-5)),
                              ("SiLU fp32", lambda: F.silu(xb)), ("SiLU bf16", lambda: F.silu(x16)),
                              ("cast bf16 -> fp32", lambda: x16.float()), ("cast fp32 -> bf16", lambda: xb.bfloat16())):
                print("%-58s %9.2f ms" % ("%s on %s" % (label, list(xb.shape)), 1000 * timed(fn)))
    print("one forward pass, %s, %d threads: %.1f GFLOP in the convolutions and attention products; %.0f ms if "
          "each ran alone at the speed measured here (%.0f GFLOP/s on average)"
          % ("bf16" if dtype == torch.bfloat16 else "fp32", threads, total_gf, total_ms, total_gf / total_ms * 1000))


if __name__ == "__main__":
    main()

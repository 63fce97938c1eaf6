"""The network of bench_convnet.c in python3-torch (same libtorch), timed the
same way: median of STEPS training steps after 3 warm-up steps.

usage: bench_convnet.py SIZE BATCH CHANNELS STEPS THREADS [channels_last]
prints: "py median_ms <ms> steps <n>"
channels_last: the 4-D weights and the input in the channels-last memory
format (bench_convnet.c's same option)
"""
import sys
import time

import torch
import torch.nn.functional as F

LAYERS = 4


def main():
    size, batch, ch, steps, threads = (int(a) for a in sys.argv[1:6])
    cl = len(sys.argv) > 6 and sys.argv[6] == "channels_last"
    fmt = torch.channels_last if cl else torch.contiguous_format
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    shapes = [(ch, 3, 3, 3), (ch,)] + [(ch, ch, 3, 3), (ch,)] * LAYERS + [(3, ch, 3, 3), (3,)]
    params = []
    for s in shapes:
        t = torch.randn(s, generator=g) if len(s) == 4 else torch.zeros(s)
        t = t * 0.05
        if len(s) == 4:
            t = t.contiguous(memory_format=fmt)
        params.append(t.requires_grad_())
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    x = torch.randn(batch, 3, size, size, generator=g).contiguous(memory_format=fmt)
    noise = torch.randn(batch, 3, size, size, generator=g)
    times = []
    for s in range(-3, steps):
        t0 = time.perf_counter()
        h = F.conv2d(x, params[0], params[1], padding=1)
        for l in range(LAYERS):
            a = F.silu(F.group_norm(h, 32, eps=1e-5))
            h = h + F.conv2d(a, params[2 + 2 * l], params[3 + 2 * l], padding=1)
        y = F.conv2d(h, params[-2], params[-1], padding=1)
        loss = ((y - noise) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if s >= 0:
            times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    print(f"py median_ms {times[len(times) // 2]:.3f} steps {steps}")


if __name__ == "__main__":
    main()

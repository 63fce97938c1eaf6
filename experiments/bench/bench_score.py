"""Reference timing: the authors' scoring procedure in PyTorch (VandyLu/
anomaly_diff's test script): one image at a time; for each timestep t, one UNet
call for the KL map at the original timestep and a second call for the
feature head with the respaced index; EfficientNet-B4 targets of x0 once per
image (torchvision's efficientnet_b4, random weights: the same blocks as the
lukemelas layout, taps after blocks 1, 5, 9, 21 = features[1], [2], [3], [5]).
Maps: KL in bits standardised per image, mean over t and RGB; feature error
bilinearly upsampled; 0.5 / 0.5 combination; mean of the top 64.

    bench_score.py N_IMAGES THREADS [size channels mult res_blocks attn heads classes tap feat_size]
                   [--device cpu|cuda|cuda:N]

Prints "key value" lines like bench_score: params, unet_calls, ms_per_image,
images_per_s, peak_rss_mb (and peak_gpu_mb on CUDA: torch's peak allocation).
On CUDA the clock stops after a synchronize; each image's .item() already
waits for its kernels."""
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from adm_reference import ADMUNet, Diffusion  # noqa: E402


def effnet_taps(net, x, fs):
    feats, h = [], x
    for i, block in enumerate(net.features[:6]):
        h = block(h)
        if i in (1, 2, 3, 5):
            feats.append(F.interpolate(h, size=(fs, fs), mode="bilinear", align_corners=False))
    return torch.cat(feats, dim=1)


def parse_device(argv):
    """Takes "--device DEV" out of argv; returns the device (cpu by default)."""
    if "--device" not in argv:
        return torch.device("cpu")
    i = argv.index("--device")
    if i + 1 >= len(argv):
        sys.exit("bench_score.py: --device needs a value (cpu, cuda, cuda:N)")
    name = argv[i + 1]
    del argv[i:i + 2]
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        sys.exit(f"bench_score.py: --device {name}: this torch ({torch.__version__}) has no usable CUDA "
                 f"(compiled with CUDA {torch.version.cuda}, {torch.cuda.device_count()} devices); "
                 "run it with a CUDA-enabled python (DDAD_PYTHON=...) on a GPU machine")
    return dev


def main():
    dev = parse_device(sys.argv)
    n, threads = int(sys.argv[1]), int(sys.argv[2])
    size, ch, mult, rb, attn, heads, classes, tap, fs = (
        (int(sys.argv[3]), int(sys.argv[4]), [int(v) for v in sys.argv[5].split(",")], int(sys.argv[6]),
         [int(v) for v in sys.argv[7].split(",")], int(sys.argv[8]), int(sys.argv[9]), int(sys.argv[10]),
         int(sys.argv[11])) if len(sys.argv) > 3 else (64, 32, [1, 2, 2, 2], 1, [8], 32, 6, 2, 16))
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = ADMUNet(size, ch, mult, rb, attn, heads, classes, tap).eval().to(dev)
    eff = torchvision.models.efficientnet_b4().eval().to(dev)
    diff = Diffusion()
    tmap = diff.timestep_map.to(dev)
    timesteps = [5, 50, 100]
    idx = torch.arange(n * 3 * size * size, dtype=torch.float64)
    images = torch.sin(0.37 * idx).float().reshape(n, 3, size, size).to(dev)
    y = torch.zeros(1, dtype=torch.long, device=dev)
    calls = 0

    def score(x0):
        nonlocal calls
        target = effnet_taps(eff, x0, fs)
        kls, fts = [], []
        for t in timesteps:
            noise = torch.randn_like(x0)
            xt = diff.q_sample(x0, t, noise)
            out, _ = model(xt, tmap[t:t + 1], y)                                # call 1: KL
            _, feat = model(xt, torch.tensor([t], device=dev), y, feat_size=fs)  # call 2: features, respaced index
            calls += 2
            kl, _ = diff.kl_bits(out, x0, xt, t)
            kl = (kl - kl.mean()) / kl.std()
            kls.append(kl)
            fts.append(F.interpolate(((feat - target) ** 2).mean(1, keepdim=True), size=(size, size),
                                     mode="bilinear", align_corners=False))
        pixel = torch.stack(kls).mean(0).mean(1, keepdim=True)
        amap = 0.5 * pixel + 0.5 * torch.stack(fts).mean(0)
        return amap.flatten().topk(64).values.mean().item()

    with torch.no_grad():
        score(images[:1])  # warm-up
        calls = 0
        t0 = time.perf_counter()
        for i in range(n):
            score(images[i:i + 1])
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        dt = time.perf_counter() - t0
    params = sum(p.numel() for p in model.parameters())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"params {params}\nunet_calls {calls}\nms_per_image {1000 * dt / n:.3f}\n"
          f"images_per_s {n / dt:.4f}\npeak_rss_mb {rss:.1f}")
    if dev.type == "cuda":
        print(f"peak_gpu_mb {torch.cuda.max_memory_allocated(dev) / 2**20:.1f}")


if __name__ == "__main__":
    main()

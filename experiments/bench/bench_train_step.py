"""One training step of the ADM UNet + feature head with the loss of Lu et al.
(mse + vb + feat against a frozen EfficientNet-B4), in PyTorch, for comparison
with ddad's trainer (bench_train_step.c). A compact re-implementation of
guided-diffusion's UNetModel (scale-shift norm, BigGAN up/down ResBlocks,
legacy-order attention, learned sigma) with the AnomalyModel feature head;
the extractor is torchvision's EfficientNet-B4 (the same blocks as the
lukemelas layout; taps after flattened blocks 1, 5, 9, 21). Random weights.

  /usr/bin/python3 bench_train_step.py --size 64 --channels 32 --mult 1,2,2,2 \
      --res-blocks 1 --attn 8 --head-channels 32 --classes 6 --tap 2 --feat 16 --batch 8
"""
import argparse
import resource
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def gn(c):
    return nn.GroupNorm(32, c)


def zero(m):
    for p in m.parameters():
        nn.init.zeros_(p)
    return m


class ResBlock(nn.Module):
    def __init__(self, ch, emb, out, up=False, down=False):
        super().__init__()
        self.in_norm, self.in_conv = gn(ch), nn.Conv2d(ch, out, 3, padding=1)
        self.emb = nn.Linear(emb, 2 * out)
        self.out_norm, self.out_conv = gn(out), zero(nn.Conv2d(out, out, 3, padding=1))
        self.skip = nn.Identity() if ch == out else nn.Conv2d(ch, out, 1)
        self.up, self.down = up, down

    def resample(self, x):
        if self.up:
            return F.interpolate(x, scale_factor=2, mode="nearest")
        if self.down:
            return F.avg_pool2d(x, 2)
        return x

    def forward(self, x, emb):
        h = F.silu(self.in_norm(x))
        h, x = self.resample(h), self.resample(x)
        h = self.in_conv(h)
        scale, shift = self.emb(F.silu(emb))[..., None, None].chunk(2, dim=1)
        h = self.out_norm(h) * (1 + scale) + shift
        h = self.out_conv(F.silu(h))
        return self.skip(x) + h


class Attn(nn.Module):
    def __init__(self, ch, head_ch):
        super().__init__()
        self.heads = ch // head_ch
        self.norm, self.qkv = gn(ch), nn.Conv1d(ch, 3 * ch, 1)
        self.proj = zero(nn.Conv1d(ch, ch, 1))

    def forward(self, x, emb=None):
        b, c, *sp = x.shape
        h = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(h))
        bs, w, length = qkv.shape
        ch = w // (3 * self.heads)
        q, k, v = qkv.reshape(bs * self.heads, ch * 3, length).split(ch, dim=1)
        scale = 1 / math.sqrt(math.sqrt(ch))
        a = torch.einsum("bct,bcs->bts", q * scale, k * scale).softmax(dim=-1)
        out = torch.einsum("bts,bcs->bct", a, v).reshape(bs, -1, length)
        return (h + self.proj(out)).reshape(b, c, *sp)


class Seq(nn.ModuleList):
    def forward(self, x, emb):
        for m in self:
            x = m(x, emb) if isinstance(m, (ResBlock, Attn)) else m(x)
        return x


class UNet(nn.Module):
    def __init__(self, size, C, mult, nres, attn_res, head_ch, classes, tap, feat_ch=272):
        super().__init__()
        E = 4 * C
        self.C, self.tap = C, tap
        self.time = nn.Sequential(nn.Linear(C, E), nn.SiLU(), nn.Linear(E, E))
        self.label = nn.Embedding(classes, E) if classes else None
        attn_ds = {size // r for r in attn_res}
        self.inp = nn.ModuleList([Seq([nn.Conv2d(3, C, 3, padding=1)])])
        chans, ch, ds = [C], C, 1
        for lvl, m in enumerate(mult):
            for _ in range(nres):
                layers = [ResBlock(ch, E, m * C)]
                ch = m * C
                if ds in attn_ds:
                    layers.append(Attn(ch, head_ch))
                self.inp.append(Seq(layers))
                chans.append(ch)
            if lvl != len(mult) - 1:
                self.inp.append(Seq([ResBlock(ch, E, ch, down=True)]))
                chans.append(ch)
                ds *= 2
        self.mid = Seq([ResBlock(ch, E, ch), Attn(ch, head_ch), ResBlock(ch, E, ch)])
        self.out_blocks = nn.ModuleList()
        tap_ch = None
        for lvl, m in list(enumerate(mult))[::-1]:
            for i in range(nres + 1):
                layers = [ResBlock(ch + chans.pop(), E, C * m)]
                ch = C * m
                if ds in attn_ds:
                    layers.append(Attn(ch, head_ch))
                if lvl and i == nres:
                    layers.append(ResBlock(ch, E, ch, up=True))
                    ds //= 2
                if len(self.out_blocks) == tap:
                    tap_ch = ch
                self.out_blocks.append(Seq(layers))
        self.out = nn.Sequential(gn(ch), nn.SiLU(), zero(nn.Conv2d(C, 6, 3, padding=1)))
        self.feat = nn.Sequential(gn(tap_ch), nn.SiLU(), nn.Conv2d(tap_ch, feat_ch, 1))

    def forward(self, x, t, y, fs):
        half = self.C // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
        args = t[:, None].float() * freqs[None]
        emb = self.time(torch.cat([torch.cos(args), torch.sin(args)], dim=-1))
        if self.label is not None:
            emb = emb + self.label(y)
        hs, h = [], x
        for b in self.inp:
            h = b(h, emb)
            hs.append(h)
        h = self.mid(h, emb)
        feat = None
        for i, b in enumerate(self.out_blocks):
            h = b(torch.cat([h, hs.pop()], dim=1), emb)
            if i == self.tap:
                feat = self.feat(F.interpolate(h, size=(fs, fs), mode="bilinear", align_corners=False))
        return self.out(h), feat


class Extractor(nn.Module):
    TAPS = (1, 5, 9, 21)

    def __init__(self):
        super().__init__()
        f = torchvision.models.efficientnet_b4(weights=None).features
        self.stem = f[0]
        self.blocks = nn.ModuleList([blk for stage in f[1:6] for blk in stage])
        self.eval().requires_grad_(False)

    @torch.no_grad()
    def forward(self, x, fs):
        h, outs = self.stem(x), []
        for i, b in enumerate(self.blocks[: self.TAPS[-1] + 1]):
            h = b(h)
            if i in self.TAPS:
                outs.append(F.interpolate(h, size=(fs, fs), mode="bilinear", align_corners=False))
        return torch.cat(outs, dim=1)


class Diffusion:
    def __init__(self, T=1000):
        b = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
        a = torch.cumprod(1 - b, 0)
        ap = torch.cat([torch.ones(1, dtype=torch.float64), a[:-1]])
        self.b, self.a = b, a
        self.post_var = b * (1 - ap) / (1 - a)
        self.post_logvar = torch.log(torch.cat([self.post_var[1:2], self.post_var[1:]]))
        self.c1 = b * ap.sqrt() / (1 - a)
        self.c2 = (1 - ap) * (1 - b).sqrt() / (1 - a)

    def ex(self, arr, t):
        return arr[t].float()[:, None, None, None]

    def losses(self, out, x0, xt, t, noise, feat, target):
        eps, v = out.chunk(2, dim=1)
        mse = ((noise - eps) ** 2).mean(dim=(1, 2, 3))
        epsd = eps.detach()
        frac = (v + 1) / 2
        maxl, minl = self.ex(torch.log(self.b), t), self.ex(self.post_logvar, t)
        logvar = frac * maxl + (1 - frac) * minl
        a = self.ex(self.a, t)
        x0h = (xt - (1 - a).sqrt() * epsd) / a.sqrt()
        mean_p = self.ex(self.c1, t) * x0h + self.ex(self.c2, t) * xt
        mean_q = self.ex(self.c1, t) * x0 + self.ex(self.c2, t) * xt
        lq = minl
        kl = 0.5 * (-1 + logvar - lq + torch.exp(lq - logvar) + (mean_q - mean_p) ** 2 * torch.exp(-logvar))
        kl = kl.mean(dim=(1, 2, 3)) / math.log(2)
        # decoder NLL at t == 0 (discretised Gaussian)
        cx = x0 - mean_p
        inv = torch.exp(-0.5 * logvar)
        cdf = lambda z: 0.5 * (1 + torch.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z ** 3)))
        cdf_plus, cdf_min = cdf(inv * (cx + 1 / 255)), cdf(inv * (cx - 1 / 255))
        lp = torch.where(x0 < -0.999, torch.log(cdf_plus.clamp(min=1e-12)),
                         torch.where(x0 > 0.999, torch.log((1 - cdf_min).clamp(min=1e-12)),
                                     torch.log((cdf_plus - cdf_min).clamp(min=1e-12))))
        nll = (-lp).mean(dim=(1, 2, 3)) / math.log(2)
        vb = torch.where(t == 0, nll, kl)
        fm = ((target - feat) ** 2).mean()
        return (mse + vb).mean() + fm


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--channels", type=int, default=32)
    p.add_argument("--mult", default="1,2,2,2")
    p.add_argument("--res-blocks", type=int, default=1)
    p.add_argument("--attn", default="8")
    p.add_argument("--head-channels", type=int, default=32)
    p.add_argument("--classes", type=int, default=6)
    p.add_argument("--tap", type=int, default=2)
    p.add_argument("--feat", type=int, default=16)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--channels-last", action="store_true",
                   help="4-D weights of the UNet, EMA and extractor in channels_last (bench_train_step.c's flag)")
    a = p.parse_args()
    dev = torch.device(a.device)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = UNet(a.size, a.channels, [int(m) for m in a.mult.split(",")], a.res_blocks,
               [int(r) for r in a.attn.split(",")], a.head_channels, a.classes, a.tap)
    ema = UNet(a.size, a.channels, [int(m) for m in a.mult.split(",")], a.res_blocks,
               [int(r) for r in a.attn.split(",")], a.head_channels, a.classes, a.tap)
    ema.load_state_dict(net.state_dict())
    ema.requires_grad_(False)
    ext = Extractor()
    diff = Diffusion()
    net, ema, ext = net.to(dev), ema.to(dev), ext.to(dev)
    if a.channels_last:
        net, ema, ext = (mod.to(memory_format=torch.channels_last) for mod in (net, ema, ext))
    for name in ("b", "a", "post_var", "post_logvar", "c1", "c2"):
        setattr(diff, name, getattr(diff, name).to(dev))
    opt = torch.optim.AdamW(net.parameters(), lr=2e-4, weight_decay=0.0)
    gen = torch.Generator().manual_seed(0)
    x_all = torch.rand(2 * a.batch, 3, a.size, a.size, generator=gen) * 2 - 1
    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        idx = torch.randperm(x_all.shape[0], generator=gen)[: a.batch]
        x0 = x_all[idx].contiguous().to(dev)
        y = torch.randint(0, max(a.classes, 1), (a.batch,), generator=gen).to(dev)
        t = torch.randint(0, 1000, (a.batch,), generator=gen).to(dev)
        noise = torch.randn(x0.shape, generator=gen).to(dev)
        at = diff.ex(diff.a, t)
        xt = at.sqrt() * x0 + (1 - at).sqrt() * noise
        target = ext(x0, a.feat)
        out, feat = net(xt, t, y if a.classes else None, a.feat)
        loss = diff.losses(out, x0, xt, t, noise, feat, target)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            for pe, pn in zip(ema.parameters(), net.parameters()):
                pe.lerp_(pn, 1 - 0.99)
        loss.item()
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2] * 1e3
    n = sum(p.numel() for p in net.parameters())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(f"python it/s {1e3 / med:.4f} median_ms {med:.1f} params {n} peak_rss_mb {rss:.0f}")


if __name__ == "__main__":
    main()

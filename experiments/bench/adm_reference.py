"""A compact PyTorch ADM UNet (guided-diffusion's UNetModel: scale-shift
ResBlocks, BigGAN up/down ResBlocks, legacy-order attention, class
embedding) with the feature head of Lu et al. (GroupNorm, SiLU, 1x1 conv to
272 channels on a decoder block resized to feat_size), and the diffusion
maths the authors' scoring and training need. Parameter names follow
guided-diffusion's state_dict, so the parameter count can be compared with
ddad's C model and weights exchanged through HDF5 by name.
Used by bench_score.py as the reference implementation, and by
tests/reference/train_step_reference.py (Diffusion(1000, 1000).training_losses)
for the training-step reference of test_nn_train_reference."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def gn(ch):
    return nn.GroupNorm(32, ch)


class ResBlock(nn.Module):
    def __init__(self, ch, emb, out, updown=0, scale_shift=True):
        super().__init__()
        self.updown, self.scale_shift = updown, scale_shift
        self.in_layers = nn.Sequential(gn(ch), nn.SiLU(), nn.Conv2d(ch, out, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb, 2 * out if scale_shift else out))
        self.out_layers = nn.Sequential(gn(out), nn.SiLU(), nn.Dropout(0.0), nn.Conv2d(out, out, 3, padding=1))
        self.skip_connection = nn.Identity() if ch == out else nn.Conv2d(ch, out, 1)

    def _resample(self, x):
        if self.updown < 0:
            return F.avg_pool2d(x, 2)
        if self.updown > 0:
            return F.interpolate(x, scale_factor=2, mode="nearest")
        return x

    def forward(self, x, emb):
        if self.updown:
            h = self.in_layers[:-1](x)
            h, x = self._resample(h), self._resample(x)
            h = self.in_layers[-1](h)
        else:
            h = self.in_layers(x)
        e = self.emb_layers(emb)[..., None, None]
        if self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[1:](h)
        else:
            h = self.out_layers(h + e)
        return self.skip_connection(x) + h


class Attention(nn.Module):
    def __init__(self, ch, head_channels):
        super().__init__()
        self.heads = ch // head_channels
        self.norm = gn(ch)
        self.qkv = nn.Conv1d(ch, 3 * ch, 1)
        self.proj_out = nn.Conv1d(ch, ch, 1)

    def forward(self, x, emb=None):
        b, c, *sp = x.shape
        xs = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(xs))
        bs, width, length = qkv.shape
        ch = width // (3 * self.heads)
        q, k, v = qkv.reshape(bs * self.heads, ch * 3, length).split(ch, dim=1)
        scale = 1 / math.sqrt(math.sqrt(ch))
        w = torch.softmax(torch.einsum("bct,bcs->bts", q * scale, k * scale).float(), dim=-1).type(q.dtype)
        a = torch.einsum("bts,bcs->bct", w, v).reshape(bs, -1, length)
        return (xs + self.proj_out(a)).reshape(b, c, *sp)


class Seq(nn.ModuleList):
    def forward(self, x, emb):
        for layer in self:
            x = layer(x, emb) if isinstance(layer, (ResBlock, Attention)) else layer(x)
        return x


class ADMUNet(nn.Module):
    def __init__(self, image_size, channels, channel_mult, res_blocks, attention_resolutions, head_channels,
                 num_classes, feature_tap, feat_channels=272, out_channels=6):
        super().__init__()
        C, E = channels, 4 * channels
        self.C = C
        attn_ds = {image_size // r for r in attention_resolutions}
        self.time_embed = nn.Sequential(nn.Linear(C, E), nn.SiLU(), nn.Linear(E, E))
        self.label_emb = nn.Embedding(num_classes, E) if num_classes else None
        self.input_blocks = nn.ModuleList([Seq([nn.Conv2d(3, C, 3, padding=1)])])
        chans, ch, ds = [C], C, 1
        for level, mult in enumerate(channel_mult):
            for _ in range(res_blocks):
                layers = [ResBlock(ch, E, mult * C)]
                ch = mult * C
                if ds in attn_ds:
                    layers.append(Attention(ch, head_channels))
                self.input_blocks.append(Seq(layers))
                chans.append(ch)
            if level != len(channel_mult) - 1:
                self.input_blocks.append(Seq([ResBlock(ch, E, ch, updown=-1)]))
                chans.append(ch)
                ds *= 2
        self.middle_block = Seq([ResBlock(ch, E, ch), Attention(ch, head_channels), ResBlock(ch, E, ch)])
        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(channel_mult))[::-1]:
            for i in range(res_blocks + 1):
                layers = [ResBlock(ch + chans.pop(), E, C * mult)]
                ch = C * mult
                if ds in attn_ds:
                    layers.append(Attention(ch, head_channels))
                if level and i == res_blocks:
                    layers.append(ResBlock(ch, E, ch, updown=1))
                    ds //= 2
                self.output_blocks.append(Seq(layers))
        self.out = nn.Sequential(gn(ch), nn.SiLU(), nn.Conv2d(C, out_channels, 3, padding=1))
        self.feature_tap = feature_tap
        tap_ch = [b[0].out_layers[-1].out_channels for b in self.output_blocks][feature_tap]
        self.feat_rec1 = nn.Sequential(gn(tap_ch), nn.SiLU(), nn.Conv2d(tap_ch, feat_channels, 1))

    def forward(self, x, t, y, feat_size=0):
        half = self.C // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
        args = t[:, None].float() * freqs[None]
        emb = self.time_embed(torch.cat([torch.cos(args), torch.sin(args)], dim=-1))
        if self.label_emb is not None:
            emb = emb + self.label_emb(y)
        hs, h = [], x
        for b in self.input_blocks:
            h = b(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        feat = None
        for i, b in enumerate(self.output_blocks):
            h = b(torch.cat([h, hs.pop()], dim=1), emb)
            if i == self.feature_tap and feat_size:
                feat = self.feat_rec1(F.interpolate(h, size=(feat_size, feat_size), mode="bilinear",
                                                    align_corners=False))
        return self.out(h), feat


class Diffusion:
    """Linear betas over 1000 steps respaced to `respacing` (guided-diffusion).
    Diffusion(1000, 1000) is the (unrespaced) training process; its betas are
    recomputed from alphas_cumprod as the official SpacedDiffusion does (within
    2e-16 of the linspace)."""

    def __init__(self, steps=1000, respacing=250):
        scale = 1000 / steps
        betas = torch.linspace(scale * 1e-4, scale * 0.02, steps, dtype=torch.float64)
        ac = torch.cumprod(1 - betas, 0)
        stride = (steps - 1) / (respacing - 1)
        kept = sorted({round(i * stride) for i in range(respacing)})
        last, nb = 1.0, []
        for k in kept:
            nb.append(1 - ac[k].item() / last)
            last = ac[k].item()
        self.timestep_map = torch.tensor(kept)
        b = torch.tensor(nb, dtype=torch.float64)
        self.ac = torch.cumprod(1 - b, 0)
        self.ac_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.ac[:-1]])
        self.betas = b
        self.post_var = b * (1 - self.ac_prev) / (1 - self.ac)
        self.post_logvar = torch.log(torch.cat([self.post_var[1:2], self.post_var[1:]]))
        self.c1 = b * torch.sqrt(self.ac_prev) / (1 - self.ac)
        self.c2 = (1 - self.ac_prev) * torch.sqrt(1 - b) / (1 - self.ac)

    def q_sample(self, x0, t, noise):
        return float(self.ac[t].sqrt()) * x0 + float((1 - self.ac[t]).sqrt()) * noise

    def kl_bits(self, out, x0, xt, t):
        """KL(q(x_{t-1}|x_t,x0) || p(x_{t-1}|x_t)) in bits per element (t > 0)."""
        eps, v = out.chunk(2, dim=1)
        frac = (v + 1) / 2
        min_log, max_log = float(self.post_logvar[t]), math.log(float(self.betas[t]))
        p_logvar = frac * max_log + (1 - frac) * min_log
        x0_hat = (float(1 / self.ac[t].sqrt()) * xt - float((1 / self.ac[t] - 1).sqrt()) * eps).clamp(-1, 1)
        p_mean = float(self.c1[t]) * x0_hat + float(self.c2[t]) * xt
        q_mean = float(self.c1[t]) * x0 + float(self.c2[t]) * xt
        q_logvar = min_log
        kl = 0.5 * (-1 + p_logvar - q_logvar + math.exp(q_logvar) * torch.exp(-p_logvar)
                    + (q_mean - p_mean) ** 2 * torch.exp(-p_logvar))
        return kl / math.log(2.0), x0_hat

    # ---- training (guided-diffusion's training_losses + the AnomalyModel feature term) ----

    @staticmethod
    def _ex(arr, t):
        """arr[t] for a batch of timesteps: looked up in float64, cast to float32,
        shaped (N, 1, 1, 1) (guided-diffusion's _extract_into_tensor)."""
        return arr[t].float()[:, None, None, None]

    def q_sample_batch(self, x0, t, noise):
        """x_t for per-sample timesteps t (N,)."""
        return self._ex(self.ac.sqrt(), t) * x0 + self._ex((1 - self.ac).sqrt(), t) * noise

    @staticmethod
    def _normal_cdf(x):
        return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3))))

    def training_losses(self, out, x0, xt, t, noise, feats=None, target=None):
        """The terms of GaussianDiffusion.training_losses (epsilon prediction,
        LEARNED_RANGE variance, loss type MSE) for per-sample t (N,):
          mse (N,)   mean over C,H,W of (noise - eps)^2
          vb  (N,)   bits: the mean KL(q(x_{t-1}|x_t,x0) || p(x_{t-1}|x_t)), or the
                     discretised-Gaussian decoder NLL where t == 0; computed with
                     the eps half detached and no clipping of pred_xstart
          feat_mse   () the AnomalyModel term: mean over all elements of
                     (target - feats)^2, one scalar for the batch (None without feats)"""
        C = x0.shape[1]
        eps, v = out[:, :C], out[:, C:]
        mse = ((noise - eps) ** 2).mean(dim=(1, 2, 3))
        eps_d = eps.detach()
        # q(x_{t-1} | x_t, x0)
        q_mean = self._ex(self.c1, t) * x0 + self._ex(self.c2, t) * xt
        q_logvar = self._ex(self.post_logvar, t)
        # p(x_{t-1} | x_t): LEARNED_RANGE variance, pred_xstart from eps (not clipped)
        min_log = self._ex(self.post_logvar, t)
        max_log = self._ex(torch.log(self.betas), t)
        frac = (v + 1) / 2
        p_logvar = frac * max_log + (1 - frac) * min_log
        x0_hat = self._ex(torch.sqrt(1.0 / self.ac), t) * xt - self._ex(torch.sqrt(1.0 / self.ac - 1), t) * eps_d
        p_mean = self._ex(self.c1, t) * x0_hat + self._ex(self.c2, t) * xt
        kl = 0.5 * (-1.0 + p_logvar - q_logvar + torch.exp(q_logvar - p_logvar)
                    + (q_mean - p_mean) ** 2 * torch.exp(-p_logvar))
        kl = kl.mean(dim=(1, 2, 3)) / math.log(2.0)
        # decoder NLL (t == 0): discretised Gaussian, log_scales = 0.5 * log variance
        centered = x0 - p_mean
        inv_stdv = torch.exp(-0.5 * p_logvar)
        cdf_plus = self._normal_cdf(inv_stdv * (centered + 1.0 / 255.0))
        cdf_min = self._normal_cdf(inv_stdv * (centered - 1.0 / 255.0))
        log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
        log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
        log_probs = torch.where(x0 < -0.999, log_cdf_plus,
                                torch.where(x0 > 0.999, log_one_minus_cdf_min,
                                            torch.log((cdf_plus - cdf_min).clamp(min=1e-12))))
        nll = (-log_probs).mean(dim=(1, 2, 3)) / math.log(2.0)
        vb = torch.where(t == 0, nll, kl)
        feat_mse = None if feats is None else ((target - feats) ** 2).mean()
        return {"mse": mse, "vb": vb, "feat_mse": feat_mse}

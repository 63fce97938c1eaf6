#!/usr/bin/python3
"""Training-step reference for ddad's trainer (tests/test_nn_train_reference.c).

Builds the ADM UNet with the feature head of experiments/bench/adm_reference.py
(PyTorch, parameter names of guided-diffusion's state_dict) in a small
configuration, gives it PyTorch's default random initialisation, and trains it
for a few steps on fixed inputs the way the authors' code (guided-diffusion's
TrainLoop + the AnomalyModel loss) does:

  x_t      = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise          (1000-step linear schedule)
  out, fr  = UNet(x_t, t, y) with the feature head at feat_size
  loss     = mean_batch(mse) + vlb_weight * mean_batch(vb) + feat_weight * feat_mse
             (Diffusion.training_losses: eps MSE, VB in bits with the eps half
             detached and the decoder NLL at t == 0, feature MSE over all elements)
  backward; torch.optim.AdamW(lr_k, betas (0.9, 0.999), eps 1e-8, weight_decay)
             with lr_k = lr * (1 - k / iterations) before step k = 0, 1, ...
             (guided-diffusion's _anneal_lr; --lr-decay constant keeps lr)
  EMA      ema = ema * rate + w * (1 - rate) (guided-diffusion's update_ema), from ema = w0

The frozen extractor is not part of the reference: its features are an input
(`target`, random values), which ddad's trainer takes through
ddad_trainer_step_batch(). Runs on the CPU in float32, deterministic.

    /usr/bin/python3 tests/reference/train_step_reference.py OUT.h5 \\
        [--size 32 --channels 32 --mult 1,2 --res-blocks 1 --attn 16 --head-channels 32 \\
         --classes 6 --tap 0 --feat-size 8] \\
        [--batch 4 --steps 3 --lr 5e-4 --weight-decay 0.05 --ema 0.9 --iterations 10 \\
         --vlb-weight 1 --feat-weight 1 --seed 0 --t0 0,437,999,1] \\
        [--fixtures ../shared/fixtures/diffusion.h5]

The architecture defaults are configs/tiny.yaml's. With --fixtures the loss
maths (Diffusion.training_losses) are first checked against the authors'
training losses stored in the golden fixtures (bit for bit; exit status 3 if
not), so the reference itself is pinned to the authors' code. Needs only Debian's
python3-torch, python3-numpy and python3-h5py. Takes a few seconds.

Output (HDF5, format "ddad-train-reference", format_version 1; every float
tensor float32, integers int64, PyTorch shapes and state_dict names):
  root attributes  format, format_version, torch_version, config_json (all
                   options), and each option as a scalar: image_size, channels,
                   res_blocks, head_channels, num_classes, feature_tap,
                   feat_size, batch, steps, iterations, seed (int64); lr,
                   weight_decay, ema, vlb_weight, feat_weight, beta1, beta2,
                   adam_eps (float64); lr_decay, channel_mult,
                   attention_resolutions (text, "1,2")
  weights/<name>   the initial weights (also the model.init file for ddad)
  step_<k>/        for k = 1 .. steps, the inputs of step k:
      x0 (B,3,S,S): levels j/127.5 - 1 (exact -1 and +1 included), y (B),
      t (B): step 1 uses --t0 (t = 0 exercises the decoder NLL), later steps
      random; noise (B,3,S,S); target (B,272,fs,fs); lr () float64
                   and its results:
      mse (B), vb (B), feat_mse (), loss () the optimised loss (float64 copies
      of the batch means: mse_mean, vb_mean), the weights after AdamW
      (weights/<name>) and the EMA after its update (ema/<name>)
  step_1/grad/<name>  the gradient of every parameter in step 1
"""
import argparse
import json
import os
import sys

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # run from the source tree: leave no __pycache__ there
sys.path.insert(0, os.path.join(HERE, "..", "..", "experiments", "bench"))
from adm_reference import ADMUNet, Diffusion  # noqa: E402

FORMAT, FORMAT_VERSION = "ddad-train-reference", 1
FEAT_CHANNELS = 272


def ints(s):
    return [int(v) for v in s.split(",") if v.strip()]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out", help="HDF5 file to write")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--channels", type=int, default=32)
    p.add_argument("--mult", default="1,2")
    p.add_argument("--res-blocks", type=int, default=1)
    p.add_argument("--attn", default="16", help="attention resolutions in px")
    p.add_argument("--head-channels", type=int, default=32)
    p.add_argument("--classes", type=int, default=6)
    p.add_argument("--tap", type=int, default=0, help="output block feeding the feature head")
    p.add_argument("--feat-size", type=int, default=8)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--lr-decay", choices=("linear", "constant"), default="linear")
    p.add_argument("--iterations", type=int, default=10, help="length of the linear lr decay")
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--ema", type=float, default=0.9)
    p.add_argument("--vlb-weight", type=float, default=1.0)
    p.add_argument("--feat-weight", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--t0", default="0,437,999,1", help="timesteps of step 1 (repeated to the batch)")
    p.add_argument("--fixtures", metavar="DIFFUSION_H5",
                   help="first check the loss maths against the authors' training losses in this file "
                        "(../shared/fixtures/diffusion.h5, groups train_a and train_b); exit 3 if they differ")
    a = p.parse_args(argv)
    if a.steps < 1 or a.batch < 1:
        p.error("--steps and --batch must be positive")
    return a


def lr_at(a, k):
    if a.lr_decay == "constant" or a.iterations <= 0:
        return a.lr
    return a.lr * (1.0 - min(k / a.iterations, 1.0))


def inputs(a, k, gen):
    """The fixed inputs of step k (1-based), drawn from gen."""
    B, S, fs = a.batch, a.size, a.feat_size
    x0 = torch.randint(0, 256, (B, 3, S, S), generator=gen).float() / 127.5 - 1
    y = torch.randint(0, max(a.classes, 1), (B,), generator=gen)
    if k == 1:
        t0 = ints(a.t0)
        t = torch.tensor([t0[i % len(t0)] for i in range(B)], dtype=torch.int64)
    else:
        t = torch.randint(0, 1000, (B,), generator=gen)
    noise = torch.randn(B, 3, S, S, generator=gen)
    target = 0.5 * torch.randn(B, FEAT_CHANNELS, fs, fs, generator=gen)
    return x0, y, t, noise, target


def check_fixtures(path, diff):
    """Diffusion.training_losses against GaussianDiffusion.training_losses of the
    authors' code (diffusion.h5: the model outputs and noise are stored, so the
    UNet is not involved): x_t, mse and vb bit for bit; feat_mse to 1e-5
    relative (the fixture's target was computed for the whole batch, the stored
    x0_feat272 image by image; they differ by up to 3.7e-6)."""
    with h5py.File(path, "r") as f:
        x0 = torch.from_numpy(f["inputs/x0"][()])
        target = torch.from_numpy(f["features/x0_feat272"][()])
        for name in ("train_a", "train_b"):
            g = f[name]
            T = lambda k: torch.from_numpy(g[k][()])  # noqa: E731
            t = T("t")
            xt = diff.q_sample_batch(x0, t, T("noise"))
            L = diff.training_losses(T("model_output"), x0, T("x_t"), t, T("noise"), T("feats_rec"), target)
            bad = []
            if not torch.equal(xt, T("x_t")):
                bad.append(f"x_t (max |diff| {(xt - T('x_t')).abs().max().item():.3g})")
            for k in ("mse", "vb"):
                if not torch.equal(L[k], T(k)):
                    bad.append(f"{k} {L[k].tolist()} != {T(k).tolist()}")
            fm, ref = L["feat_mse"].item(), float(T("feat_mse").reshape(-1)[0])
            if abs(fm - ref) > 1e-5 * abs(ref):
                bad.append(f"feat_mse {fm} != {ref}")
            if bad:
                sys.exit(f"train_step_reference: {path} {name} (t = {t.tolist()}) disagrees: " + "; ".join(bad))
    print(f"loss maths agree with the authors' training losses in {path} (train_a, train_b)")


def write_params(g, named):
    for name, t in named:
        g.create_dataset(name, data=t.detach().to(torch.float32).numpy())


def main(argv=None):
    a = parse_args(argv)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(a.seed)
    net = ADMUNet(a.size, a.channels, ints(a.mult), a.res_blocks, ints(a.attn), a.head_channels, a.classes,
                  a.tap, feat_channels=FEAT_CHANNELS)
    params = list(net.named_parameters())
    if len(params) != len(net.state_dict()):
        sys.exit("train_step_reference: the model has buffers; the reference expects parameters only")
    ema = [p.detach().clone() for _, p in params]
    diff = Diffusion(1000, 1000)
    if a.fixtures:
        try:
            check_fixtures(a.fixtures, diff)
        except SystemExit as e:
            print(e, file=sys.stderr)
            sys.exit(3)
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=a.weight_decay)

    cfg = {k: getattr(a, k) for k in vars(a) if k not in ("out", "fixtures")}
    tmp = a.out + ".partial"  # complete or absent
    try:
        generate(a, cfg, tmp, net, params, ema, diff, opt)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    os.replace(tmp, a.out)


def generate(a, cfg, tmp, net, params, ema, diff, opt):
    gen = torch.Generator().manual_seed(a.seed + 1)
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["torch_version"] = str(torch.__version__)
        f.attrs["config_json"] = json.dumps(cfg, sort_keys=True)
        for k in ("size", "channels", "res_blocks", "head_channels", "classes", "tap", "feat_size", "batch", "steps",
                  "iterations", "seed"):
            name = {"size": "image_size", "classes": "num_classes", "tap": "feature_tap"}.get(k, k)
            f.attrs[name] = np.int64(getattr(a, k))
        for k in ("lr", "weight_decay", "ema", "vlb_weight", "feat_weight"):
            f.attrs[k] = np.float64(getattr(a, k))
        f.attrs["beta1"], f.attrs["beta2"], f.attrs["adam_eps"] = 0.9, 0.999, 1e-8
        f.attrs["lr_decay"] = a.lr_decay
        f.attrs["channel_mult"] = a.mult
        f.attrs["attention_resolutions"] = a.attn
        write_params(f.create_group("weights"), params)

        for k in range(1, a.steps + 1):
            x0, y, t, noise, target = inputs(a, k, gen)
            lr = lr_at(a, k - 1)
            xt = diff.q_sample_batch(x0, t, noise)
            out, feats = net(xt, t, y if a.classes else None, a.feat_size)
            L = diff.training_losses(out, x0, xt, t, noise, feats, target)
            mse_m, vb_m = L["mse"].mean(), L["vb"].mean()
            loss = mse_m + a.vlb_weight * vb_m + a.feat_weight * L["feat_mse"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            g = f.create_group(f"step_{k}")
            if k == 1:
                write_params(g.create_group("grad"), [(n, p.grad) for n, p in params])
            for group in opt.param_groups:
                group["lr"] = lr
            opt.step()
            with torch.no_grad():
                for e, (_, p) in zip(ema, params):
                    e.mul_(a.ema).add_(p, alpha=1 - a.ema)
            for name, v in (("x0", x0), ("noise", noise), ("target", target), ("mse", L["mse"]), ("vb", L["vb"]),
                            ("feat_mse", L["feat_mse"]), ("loss", loss)):
                g.create_dataset(name, data=v.detach().to(torch.float32).numpy())
            g.create_dataset("y", data=y.numpy().astype(np.int64))
            g.create_dataset("t", data=t.numpy().astype(np.int64))
            g.create_dataset("lr", data=np.float64(lr))
            g.create_dataset("mse_mean", data=np.float64(mse_m.item()))
            g.create_dataset("vb_mean", data=np.float64(vb_m.item()))
            write_params(g.create_group("weights"), params)
            write_params(g.create_group("ema"), [(n, e) for (n, _), e in zip(params, ema)])
            print(f"step {k}: loss {loss.item():.6f} mse {mse_m.item():.6f} vb {vb_m.item():.6f} "
                  f"feat {L['feat_mse'].item():.6f} lr {lr:.3g}")


if __name__ == "__main__":
    main()

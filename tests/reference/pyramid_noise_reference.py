#!/usr/bin/python3
"""Pyramid-noise reference for ddad's diffusion.noise: pyramid
(tests/test_nn_diffusion.c), written from the definition in PyTorch:

  eps = w_0 + sum_k discount^k * up(w_k),  k = 1, 2, ... while the level is >= 1 x 1
  w_0 ~ N(0, I) of shape (N, C, H, W), w_k ~ N(0, I) of (N, C, H // 2^k, W // 2^k),
  drawn in that order from one torch.Generator seeded with SEED;
  up = F.interpolate(bilinear, align_corners=False) to (H, W);
  each image divided by its unbiased std over (C, H, W).

    /usr/bin/python3 tests/reference/pyramid_noise_reference.py OUT.h5 NAME:SEED:DISCOUNT:N,C,H,W ...

writes one float32 dataset NAME of shape (N, C, H, W) per argument.
Needs Debian's python3-torch and python3-h5py.
"""
import sys

import h5py
import torch
import torch.nn.functional as F


def pyramid(shape, seed, discount):
    g = torch.Generator().manual_seed(seed)
    n, c, h, w = shape
    eps = torch.randn(shape, generator=g)
    weight, lh, lw = 1.0, h // 2, w // 2
    while lh >= 1 and lw >= 1:
        weight *= discount
        level = torch.randn((n, c, lh, lw), generator=g)
        eps = eps + weight * F.interpolate(level, size=(h, w), mode='bilinear', align_corners=False)
        lh, lw = lh // 2, lw // 2
    return eps / eps.std(dim=(1, 2, 3), keepdim=True)


def main():
    with h5py.File(sys.argv[1], 'w') as f:
        for spec in sys.argv[2:]:
            name, seed, discount, shape = spec.split(':')
            shape = tuple(int(v) for v in shape.split(','))
            f[name] = pyramid(shape, int(seed), float(discount)).numpy()


if __name__ == '__main__':
    main()

#!/usr/bin/python3
"""Do the good test images score like the images the threshold was fitted on?

    experiments/calibration_shift.py RUN [--category CAT] [--data ROOT] [--sigma S]

RUN is a ddad run folder evaluated by ddad-eval (it holds config.yaml and,
per category, maps.h5 and calibration.csv). Compares the calibration images'
scores (calibration.csv: the held-out good images behind threshold.json) with
the good test images' (maps.h5), and, to tell a change in the photographs
from one in the model, the same two groups under two model-free measures:
the mean pixel value and the meandiff floor (max of |x - mean trained image|,
mean over RGB, Gaussian sigma S px, the images resized bicubically to the
model size). The trained images are the category's train/good images that are
not calibration images.

Prints one line per measure: medians, how many good test images lie above
the calibration maximum (the max rule's threshold) and above the calibration
median, and a two-sided Mann-Whitney U p-value; then the rank correlation of
ddad's score with the two model-free measures over all these good images. Exit codes: 0 done, 2 usage,
4 missing or unreadable inputs. Needs python3-numpy, -scipy, -h5py, -pil.
"""
import argparse
import csv
import os
import sys

import h5py
import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter
from scipy.stats import mannwhitneyu, spearmanr


def fail(msg, code=4):
    print("calibration_shift: " + msg, file=sys.stderr)
    sys.exit(code)


def config_values(path):
    """data.root and data.image_size of a resolved config.yaml (ddad writes
    two-space indented mappings)."""
    section, out = None, {}
    with open(path) as f:
        for line in f:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if not line.startswith(" "):
                section = line.split(":")[0].strip()
                continue
            if section == "data" and line.startswith("  ") and not line.startswith("   "):
                k, _, v = line.strip().partition(":")
                out[k] = v.strip().strip('"')
    return out


def load(path, size):
    im = Image.open(path).convert("RGB").resize((size, size), Image.BICUBIC)
    return np.asarray(im, np.float32) / 127.5 - 1.0  # (H, W, 3) in [-1, 1], as ddad's loader


def compare(label, calib, good):
    calib, good = np.asarray(calib, float), np.asarray(good, float)
    p = mannwhitneyu(good, calib, alternative="two-sided").pvalue
    print("%s: calibration images median %.4g, max %.4g (n %d); good test images median %.4g (n %d); "
          "%d above the calibration max, %d above its median; Mann-Whitney p %.3g"
          % (label, np.median(calib), calib.max(), len(calib), np.median(good), len(good),
             (good > calib.max()).sum(), (good > np.median(calib)).sum(), p))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run")
    ap.add_argument("--category", help="category folder of a unified run")
    ap.add_argument("--data", help="data set root (default: the run's data.root)")
    ap.add_argument("--sigma", type=float, default=2.0, help="meandiff smoothing in px (default 2)")
    a = ap.parse_args()
    cfg_path = os.path.join(a.run, "config.yaml")
    if not os.path.isfile(cfg_path):
        fail("%s: no config.yaml: give a ddad run folder" % a.run)
    cfg = config_values(cfg_path)
    catdir = os.path.join(a.run, a.category) if a.category else a.run
    maps, calib_csv = os.path.join(catdir, "maps.h5"), os.path.join(catdir, "calibration.csv")
    for p in (maps, calib_csv):
        if not os.path.isfile(p):
            fail("%s is missing: run ddad-eval on the run first (it writes both)" % p)
    with h5py.File(maps, "r") as f:
        if "category" not in f.attrs:
            fail("%s has no category attribute" % maps)
        cat = f.attrs["category"]
        cat = cat.decode() if isinstance(cat, bytes) else str(cat)
        names = [n.decode() if isinstance(n, bytes) else n for n in f["names"][:]]
        scores, labels = f["scores"][:], f["labels"][:]
    rows = list(csv.DictReader(open(calib_csv)))
    if len(rows) < 2:
        fail("%s holds %d images: nothing to compare" % (calib_csv, len(rows)))
    root = os.path.join(a.data or cfg.get("root", ""), cat)
    size = int(cfg.get("image_size", "0") or 0)
    good_idx = [i for i in range(len(names)) if labels[i] == 0]
    if not good_idx:
        fail("%s has no good test image" % maps)
    compare("ddad image score", [float(r["score"]) for r in rows], scores[good_idx])
    if size <= 0 or not os.path.isdir(os.path.join(root, "train", "good")):
        fail("no images under %s/train/good (give --data ROOT): model-free measures skipped" % root)
    try:
        cal_imgs = [load(os.path.join(root, r["name"]), size) for r in rows]
        good_imgs = [load(os.path.join(root, names[i]), size) for i in good_idx]
        held = {os.path.basename(r["name"]) for r in rows}
        train_dir = os.path.join(root, "train", "good")
        trained = [load(os.path.join(train_dir, n), size) for n in sorted(os.listdir(train_dir))
                   if n not in held and n.lower().endswith((".png", ".jpg", ".jpeg", ".bmp"))]
    except OSError as e:
        fail("cannot read an image: %s" % e)
    brightness = [x.mean() for x in cal_imgs], [x.mean() for x in good_imgs]
    compare("mean pixel value", *brightness)
    mean_image = np.mean(trained, axis=0)

    def meandiff(x):
        return gaussian_filter(np.abs(x - mean_image).mean(-1), a.sigma).max()

    md = [meandiff(x) for x in cal_imgs], [meandiff(x) for x in good_imgs]
    compare("meandiff (sigma %g, max)" % a.sigma, *md)
    ddad = [float(r["score"]) for r in rows] + list(scores[good_idx])
    print("over all %d good images, Spearman correlation of the ddad score with the mean pixel value %.2f, with "
          "meandiff %.2f" % (len(ddad), spearmanr(ddad, brightness[0] + brightness[1])[0],
                             spearmanr(ddad, md[0] + md[1])[0]))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Reference metrics for ddad's C implementation (core/report/metrics.h).

A plain NumPy transcription of MVTec AD's official AU-PRO (the algorithm of
its evaluation scripts: 8-connected ground-truth regions over the whole set,
FPR over all normal pixels, every distinct score a threshold with ties merged,
trapezoid up to the integration limit with linear interpolation there, divided
by the limit), plus sklearn's roc_curve + auc for AUROC and
precision_recall_curve for F1-max. Used by tests/test_metrics.c and by
experiments/bench/bench_metrics.sh.

Commands
  raw   --n N --h H --w W --maps F32FILE --masks U8FILE [--scores F32FILE
        --labels U8FILE] [--limit L] --out TXT [--components TXT_OR_BIN]
        reads raw little-endian arrays, writes "name value" lines.
  label --n N --h H --w W --mask U8FILE --out I32FILE
        scipy.ndimage.label with a 3x3 ones structure on each of N masks;
        writes the int32 labels (N, H, W) (each mask's count is its max).
  h5    --maps H5 [--limit L] --out TXT
        the same lines as raw for a ddad maps file (image scores from /scores
        when present, otherwise the max of each map).
  gen   --out H5 --n N --size S [--seed K]
        writes a realistic ddad-maps file (smooth random maps, blob defects on
        half of the images).
  bench --maps H5 [--limit L] [--skip-pro]
        times sklearn pixel AUROC, the reference AU-PRO and sklearn F1-max on a
        maps file, prints "name cpu_seconds value wall_seconds" lines.
"""
import argparse
import sys
import time
from bisect import bisect

import numpy as np
from scipy.ndimage import label

# ---------------------------------------------------------------- metrics


def compute_pro(anomaly_maps, ground_truth_maps):
    """(FPR, PRO) curve of MVTec AD's definition; maps and masks are (N, H, W)."""
    structure = np.ones((3, 3), dtype=int)
    num_ok_pixels = 0
    num_gt_regions = 0
    shape = anomaly_maps.shape
    fp_changes = np.zeros(shape, dtype=np.uint64)
    pro_changes = np.zeros(shape, dtype=np.float64)
    for i, gt_map in enumerate(ground_truth_maps):
        labeled, n_components = label(gt_map != 0, structure)
        num_gt_regions += n_components
        ok_mask = labeled == 0
        num_ok_pixels += int(np.sum(ok_mask))
        fp_change = np.zeros(gt_map.shape, dtype=np.uint64)
        fp_change[ok_mask] = 1
        pro_change = np.zeros(gt_map.shape, dtype=np.float64)
        for k in range(n_components):
            region_mask = labeled == (k + 1)
            pro_change[region_mask] = 1.0 / np.sum(region_mask)
        fp_changes[i] = fp_change
        pro_changes[i] = pro_change
    scores = np.asarray(anomaly_maps, dtype=np.float32).ravel()
    order = np.argsort(scores, kind="stable")[::-1]
    scores = scores[order]
    fprs = np.cumsum(fp_changes.ravel()[order]).astype(np.float64) / num_ok_pixels
    pros = np.cumsum(pro_changes.ravel()[order]) / num_gt_regions
    # keep only the last point of each run of equal scores
    keep = np.append(np.diff(scores) != 0, True)
    fprs = np.clip(fprs[keep], None, 1.0)
    pros = np.clip(pros[keep], None, 1.0)
    zero, one = np.array([0.0]), np.array([1.0])
    return np.concatenate((zero, fprs, one)), np.concatenate((zero, pros, one))


def trapezoid(x, y, x_max=None):
    """Area under y(x) by the trapezoid rule, cut at x_max with linear
    interpolation (MVTec AD's generic_util.trapezoid)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    correction = 0.0
    if x_max is not None:
        if x_max not in x:
            ins = bisect(x, x_max)
            assert 0 < ins < len(x)
            y_interp = y[ins - 1] + (y[ins] - y[ins - 1]) * (x_max - x[ins - 1]) / (x[ins] - x[ins - 1])
            correction = 0.5 * (y[ins - 1] + y_interp) * (x_max - x[ins - 1])
        mask = x <= x_max
        x = x[mask]
        y = y[mask]
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * (x[1:] - x[:-1])) + correction)


def au_pro(maps, masks, limit=0.3):
    fprs, pros = compute_pro(maps, masks)
    return trapezoid(fprs, pros, x_max=limit) / limit


def sk_auroc(scores, labels):
    from sklearn.metrics import auc, roc_curve

    fpr, tpr, _ = roc_curve(np.asarray(labels).ravel() != 0, np.asarray(scores).ravel())
    return float(auc(fpr, tpr))


def sk_f1_max(scores, labels):
    """(max F1, threshold) over sklearn's precision_recall_curve thresholds."""
    from sklearn.metrics import precision_recall_curve

    prec, rec, thr = precision_recall_curve(np.asarray(labels).ravel() != 0, np.asarray(scores).ravel())
    prec, rec = prec[:-1], rec[:-1]
    denom = prec + rec
    f1 = np.where(denom > 0, 2 * prec * rec / np.where(denom > 0, denom, 1), 0.0)
    k = int(np.argmax(f1))
    return float(f1[k]), float(thr[k])


# ------------------------------------------------------------- commands


def fmt(v):
    return repr(float(v))


def cmd_raw(a):
    shape = (a.n, a.h, a.w)
    maps = np.fromfile(a.maps, dtype="<f4").reshape(shape)
    masks = np.fromfile(a.masks, dtype=np.uint8).reshape(shape)
    scores = np.fromfile(a.scores, dtype="<f4") if a.scores else None
    labels = np.fromfile(a.labels, dtype=np.uint8) if a.labels else None
    write_all(a.out, maps, masks, scores, labels, a.limit)


def cmd_h5(a):
    import h5py

    with h5py.File(a.maps, "r") as f:
        maps = f["maps"][()]
        masks = f["masks"][()]
        labels = f["labels"][()]
        scores = f["scores"][()] if "scores" in f else maps.reshape(len(maps), -1).max(axis=1)
    write_all(a.out, maps, masks, scores, labels, a.limit)


def write_all(path, maps, masks, scores, labels, limit):
    out = []
    if masks.any() and not masks.all():
        out.append(("pixel_auroc", sk_auroc(maps, masks)))
        out.append(("au_pro", au_pro(maps, masks, limit)))
        f1, thr = sk_f1_max(maps, masks)
        out.append(("pixel_f1_max", f1))
        out.append(("pixel_f1_threshold", thr))
    regions = sum(label(m != 0, np.ones((3, 3), dtype=int))[1] for m in masks)
    out.append(("num_regions", regions))
    if scores is not None:
        if labels.any() and not labels.all():
            out.append(("image_auroc", sk_auroc(scores, labels)))
            f1, thr = sk_f1_max(scores, labels)
            out.append(("image_f1_max", f1))
            out.append(("image_f1_threshold", thr))
    with open(path, "w") as f:
        for k, v in out:
            f.write(f"{k} {fmt(v)}\n")


def cmd_label(a):
    masks = np.fromfile(a.mask, dtype=np.uint8).reshape(a.n, a.h, a.w)
    labs = [label(m != 0, np.ones((3, 3), dtype=int))[0] for m in masks]
    np.stack(labs).astype("<i4").tofile(a.out)


def smooth_field(rng, n, size, cells=8):
    """Smooth random maps (N, S, S): a coarse Gaussian noise grid upsampled
    by separable linear interpolation."""
    coarse = rng.standard_normal((n, cells + 1, cells + 1)).astype(np.float32)
    t = np.linspace(0, cells, size, dtype=np.float32)
    i0 = np.minimum(t.astype(int), cells - 1)
    f = t - i0
    rows = coarse[:, i0, :] * (1 - f)[None, :, None] + coarse[:, i0 + 1, :] * f[None, :, None]
    return rows[:, :, i0] * (1 - f)[None, None, :] + rows[:, :, i0 + 1] * f[None, None, :]


def cmd_gen(a):
    import h5py

    rng = np.random.default_rng(a.seed)
    n, s = a.n, a.size
    maps = smooth_field(rng, n, s) + 0.05 * rng.standard_normal((n, s, s)).astype(np.float32)
    masks = np.zeros((n, s, s), dtype=np.uint8)
    yy, xx = np.mgrid[0:s, 0:s]
    for i in range(0, n, 2):  # defects on every other image
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.uniform(0.1 * s, 0.9 * s, 2)
            ry, rx = rng.uniform(0.02 * s, 0.1 * s, 2)
            blob = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0 + 0.3 * rng.standard_normal()
            masks[i][blob] = 255
            maps[i] += 1.5 * np.exp(-(((yy - cy) / (1.5 * ry)) ** 2 + ((xx - cx) / (1.5 * rx)) ** 2)).astype(np.float32)
    labels = (masks.reshape(n, -1).max(axis=1) > 0).astype(np.uint8)
    with h5py.File(a.out, "w") as f:
        f.attrs["format"] = "ddad-maps"
        f.attrs["format_version"] = np.int64(1)
        f.attrs["category"] = "synthetic"
        f.attrs["resolution"] = "model"
        f.create_dataset("maps", data=maps.astype(np.float32))
        f.create_dataset("masks", data=masks)
        f.create_dataset("labels", data=labels)
        f.create_dataset("names", data=np.array([f"img{i:04d}" for i in range(n)], dtype=object),
                         dtype=h5py.string_dtype())


def timed(fn):
    """(CPU seconds of this process, wall seconds, value) of fn()."""
    c0, t0 = time.process_time(), time.perf_counter()
    v = fn()
    return time.process_time() - c0, time.perf_counter() - t0, v


def cmd_bench(a):
    import h5py

    with h5py.File(a.maps, "r") as f:
        maps = f["maps"][()]
        masks = f["masks"][()]
    c, t, v = timed(lambda: sk_auroc(maps, masks))
    print(f"pixel_auroc {c:.4f} {v!r} {t:.4f}")
    if not a.skip_pro:
        c, t, v = timed(lambda: au_pro(maps, masks, a.limit))
        print(f"au_pro {c:.4f} {v!r} {t:.4f}")
    c, t, v = timed(lambda: sk_f1_max(maps, masks)[0])
    print(f"pixel_f1_max {c:.4f} {v!r} {t:.4f}")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("raw")
    for k in ("n", "h", "w"):
        r.add_argument("--" + k, type=int, required=True)
    r.add_argument("--maps", required=True)
    r.add_argument("--masks", required=True)
    r.add_argument("--scores")
    r.add_argument("--labels")
    r.add_argument("--limit", type=float, default=0.3)
    r.add_argument("--out", required=True)
    lb = sub.add_parser("label")
    lb.add_argument("--n", type=int, default=1)
    lb.add_argument("--h", type=int, required=True)
    lb.add_argument("--w", type=int, required=True)
    lb.add_argument("--mask", required=True)
    lb.add_argument("--out", required=True)
    h = sub.add_parser("h5")
    h.add_argument("--maps", required=True)
    h.add_argument("--limit", type=float, default=0.3)
    h.add_argument("--out", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--out", required=True)
    g.add_argument("--n", type=int, default=200)
    g.add_argument("--size", type=int, default=256)
    g.add_argument("--seed", type=int, default=0)
    b = sub.add_parser("bench")
    b.add_argument("--maps", required=True)
    b.add_argument("--limit", type=float, default=0.3)
    b.add_argument("--skip-pro", action="store_true")
    a = ap.parse_args(argv)
    {"raw": cmd_raw, "h5": cmd_h5, "label": cmd_label, "gen": cmd_gen, "bench": cmd_bench}[a.cmd](a)


if __name__ == "__main__":
    main(sys.argv[1:])

"""ddad.py - score images with a trained ddad run from Python.

A thin ctypes binding over ddad's C deployment API (include/ddad/ddad.h) in the
shared library libddad.so; numpy is the only Python dependency.

    from ddad import Scorer
    with Scorer("runs/mvtec/bottle") as s:             # run folder or checkpoint
        r = s.score(rgb)                               # (H, W, 3) uint8 array
        print(r.score, r.normalized, r.label)          # raw, 0..1 (0.5 = threshold), bool
        heat = r.map_normalized                        # (H, W) float32, fixed scale

The results are exactly those of ddad-predict and of the C API: the image
is resized to the model size, the map is computed there and resized back
to the input's size; the label is score > the run's stored threshold
(threshold.json, written by ddad-eval or ddad-predict --calib) and is None
when the run has none.

The library is found through $DDAD_LIBRARY (a path to libddad.so), then
next to this file (../build/lib), then the system's library path.
"""

import ctypes
import ctypes.util
import os

import numpy as np

__all__ = ["Scorer", "Result", "DdadError", "load_library"]


class DdadError(RuntimeError):
    """A failure reported by the library; .status is its ddad_status_t and
    .exit_code the documented exit code of the programs."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class _Result(ctypes.Structure):
    _fields_ = [
        ("map", ctypes.POINTER(ctypes.c_float)),
        ("w", ctypes.c_int),
        ("h", ctypes.c_int),
        ("score", ctypes.c_float),
        ("threshold", ctypes.c_float),
        ("pixel_threshold", ctypes.c_float),
        ("is_anomalous", ctypes.c_bool),
        ("normalized", ctypes.c_float),
        ("map_normalized", ctypes.POINTER(ctypes.c_float)),
    ]


class _Calibration(ctypes.Structure):
    _fields_ = [
        ("image_threshold", ctypes.c_float),
        ("pixel_threshold", ctypes.c_float),
        ("rule", ctypes.c_char * 48),
        ("source", ctypes.c_char * 512),
        ("images", ctypes.c_int),
        ("defect_images", ctypes.c_int),
        ("optimistic", ctypes.c_bool),
        ("normalized", ctypes.c_bool),
        ("seen_in_training", ctypes.c_bool),
    ]


class _ThresholdCheck(ctypes.Structure):
    _fields_ = [
        ("good_images", ctypes.c_int64),
        ("good_flagged", ctypes.c_int64),
        ("defective_images", ctypes.c_int64),
        ("defective_flagged", ctypes.c_int64),
        ("image_fpr", ctypes.c_double),
        ("image_recall", ctypes.c_double),
        ("pixel_fpr_good_images", ctypes.c_double),
        ("pixel_recall", ctypes.c_double),
    ]


class Result:
    """One scored image.

    score          raw image score (higher = more anomalous)
    normalized     the score on the run's calibrated scale: 0.5 at the
                   threshold, clipped to [0, 1]; NaN without a calibration
    label          True (anomalous), False (good), None (no threshold)
    threshold      the image threshold (NaN without one)
    pixel_threshold
    map            (H, W) float32 anomaly map at the input's size
    map_normalized (H, W) float32 map on the calibrated scale
    """

    __slots__ = ("score", "normalized", "label", "threshold", "pixel_threshold", "map", "map_normalized")

    def __repr__(self):
        return "Result(score=%.6g, normalized=%.4g, label=%r, map=%s)" % (
            self.score, self.normalized, self.label, self.map.shape)


def load_library(path=None):
    """Loads libddad.so (see the module's note on where it is looked for)."""
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [path, os.environ.get("DDAD_LIBRARY"),
                  os.path.join(here, "..", "build", "lib", "libddad.so"),
                  ctypes.util.find_library("ddad")]
    errors = []
    for c in candidates:
        if not c:
            continue
        try:
            lib = ctypes.CDLL(c)
            break
        except OSError as e:
            errors.append("%s: %s" % (c, e))
    else:
        raise OSError("libddad.so not found (set DDAD_LIBRARY to its path; build it with cmake): "
                      + "; ".join(errors))
    P = ctypes.c_void_p
    lib.ddad_scorer_open_with.argtypes = [ctypes.POINTER(P), ctypes.c_char_p, ctypes.c_char_p,
                                          ctypes.POINTER(ctypes.c_char_p), ctypes.c_int]
    lib.ddad_scorer_open_with.restype = ctypes.c_int
    lib.ddad_scorer_score_rgb.argtypes = [P, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Result)]
    lib.ddad_scorer_score_rgb.restype = ctypes.c_int
    lib.ddad_scorer_score_file.argtypes = [P, ctypes.c_char_p, ctypes.POINTER(_Result)]
    lib.ddad_scorer_score_file.restype = ctypes.c_int
    lib.ddad_scorer_set_category.argtypes = [P, ctypes.c_char_p]
    lib.ddad_scorer_set_category.restype = ctypes.c_int
    lib.ddad_scorer_has_threshold.argtypes = [P]
    lib.ddad_scorer_has_threshold.restype = ctypes.c_bool
    lib.ddad_scorer_calibration.argtypes = [P, ctypes.POINTER(_Calibration)]
    lib.ddad_scorer_calibration.restype = ctypes.c_int
    lib.ddad_scorer_threshold_check.argtypes = [P, ctypes.POINTER(_ThresholdCheck)]
    lib.ddad_scorer_threshold_check.restype = ctypes.c_int
    lib.ddad_scorer_image_size.argtypes = [P]
    lib.ddad_scorer_image_size.restype = ctypes.c_int
    lib.ddad_scorer_checkpoint.argtypes = [P]
    lib.ddad_scorer_checkpoint.restype = ctypes.c_char_p
    lib.ddad_scorer_feature_weights.argtypes = [P]
    lib.ddad_scorer_feature_weights.restype = ctypes.c_char_p
    lib.ddad_scorer_category.argtypes = [P]
    lib.ddad_scorer_category.restype = ctypes.c_char_p
    lib.ddad_scorer_result_free.argtypes = [ctypes.POINTER(_Result)]
    lib.ddad_scorer_result_free.restype = None
    lib.ddad_scorer_close.argtypes = [P]
    lib.ddad_scorer_close.restype = None
    lib.ddad_scorer_error.argtypes = []
    lib.ddad_scorer_error.restype = ctypes.c_char_p
    lib.ddad_status_exit_code.argtypes = [ctypes.c_int]
    lib.ddad_status_exit_code.restype = ctypes.c_int
    return lib


class Scorer:
    """A trained run loaded once; score() as many images as needed.

    run       a run folder (its latest checkpoint) or a checkpoint file
    device    "cpu", "cuda", "cuda:N"; None = the run's config
    category  the category of a unified run (default: its first)
    overrides config overrides, e.g. ["score.batch_size=8"]
    Not thread-safe: use one Scorer per thread.
    """

    def __init__(self, run, device=None, category=None, overrides=(), library=None):
        self._lib = load_library(library)
        self._s = ctypes.c_void_p()
        ov = [o.encode() for o in overrides]
        arr = (ctypes.c_char_p * max(1, len(ov)))(*ov)
        self._check(self._lib.ddad_scorer_open_with(ctypes.byref(self._s), os.fsencode(run),
                                                    device.encode() if device else None, arr, len(ov)))
        if category is not None:
            self.set_category(category)

    def _check(self, status):
        if status != 0:
            msg = self._lib.ddad_scorer_error().decode(errors="replace")
            err = DdadError(status, msg)
            err.exit_code = self._lib.ddad_status_exit_code(status)
            raise err

    def set_category(self, category):
        self._check(self._lib.ddad_scorer_set_category(self._s, category.encode()))

    @property
    def category(self):
        return self._lib.ddad_scorer_category(self._s).decode()

    @property
    def image_size(self):
        return self._lib.ddad_scorer_image_size(self._s)

    @property
    def checkpoint(self):
        return self._lib.ddad_scorer_checkpoint(self._s).decode()

    @property
    def feature_weights(self):
        """The feature extractor's weights file, or "random (seed N...)" (scores
        not those of the ImageNet network), or "none"."""
        return self._lib.ddad_scorer_feature_weights(self._s).decode()

    @property
    def calibration(self):
        """The stored thresholds and their provenance, or None."""
        if not self._lib.ddad_scorer_has_threshold(self._s):
            return None
        c = _Calibration()
        self._check(self._lib.ddad_scorer_calibration(self._s, ctypes.byref(c)))
        return {"image_threshold": c.image_threshold, "pixel_threshold": c.pixel_threshold,
                "rule": c.rule.decode(), "source": c.source.decode(), "images": c.images,
                "defect_images": c.defect_images, "optimistic": c.optimistic, "normalized": c.normalized,
                "seen_in_training": c.seen_in_training}

    @property
    def threshold_check(self):
        """What the stored thresholds flagged on the labelled test split when
        ddad-eval fitted them (counts and rates), or None when they were not
        checked (thresholds from ddad-predict --calib)."""
        c = _ThresholdCheck()
        if self._lib.ddad_scorer_threshold_check(self._s, ctypes.byref(c)) != 0:
            return None
        return {name: getattr(c, name) for name, _ in _ThresholdCheck._fields_}

    def _result(self, r):
        try:
            out = Result()
            n = r.h * r.w
            out.map = np.ctypeslib.as_array(r.map, shape=(n,)).reshape(r.h, r.w).copy()
            out.map_normalized = np.ctypeslib.as_array(r.map_normalized, shape=(n,)).reshape(r.h, r.w).copy()
            out.score = float(r.score)
            out.normalized = float(r.normalized)
            out.threshold = float(r.threshold)
            out.pixel_threshold = float(r.pixel_threshold)
            has = self._lib.ddad_scorer_has_threshold(self._s)
            out.label = bool(r.is_anomalous) if has else None
            return out
        finally:
            self._lib.ddad_scorer_result_free(ctypes.byref(r))

    def score(self, image):
        """Scores an (H, W, 3) uint8 RGB array (a float array in [0, 1] is
        converted with rounding; (H, W) gray is repeated to RGB)."""
        a = np.asarray(image)
        if a.ndim == 2:
            a = np.repeat(a[:, :, None], 3, axis=2)
        if a.ndim != 3 or a.shape[2] != 3:
            raise ValueError("expected an (H, W, 3) RGB image, got shape %s" % (a.shape,))
        if a.dtype != np.uint8:
            if np.issubdtype(a.dtype, np.floating):
                a = np.clip(np.rint(a * 255.0), 0, 255)
            a = a.astype(np.uint8)
        a = np.ascontiguousarray(a)
        r = _Result()
        self._check(self._lib.ddad_scorer_score_rgb(self._s, a.ctypes.data, a.shape[1], a.shape[0],
                                                    ctypes.byref(r)))
        return self._result(r)

    def score_file(self, path):
        """Scores a PNG, JPEG or BMP file."""
        r = _Result()
        self._check(self._lib.ddad_scorer_score_file(self._s, os.fsencode(path), ctypes.byref(r)))
        return self._result(r)

    def close(self):
        if getattr(self, "_s", None):
            self._lib.ddad_scorer_close(self._s)
            self._s = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

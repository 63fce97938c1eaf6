"""Regenerates the seed corpora in tests/fuzz/corpus/<target>/.

    /usr/bin/python3 tests/fuzz/make_seeds.py BUILD/bin/fuzz_make_seeds

config:   the project's configs/*.yaml in the harness's section format (the
          base chain inlined: `base: demo.yaml` becomes `base: 1.yaml` with
          demo.yaml as section 1, and so on), plus --set overrides;
image:    PNGs from ddad's own writer (fuzz_make_seeds) and PIL's PNG (gray,
          RGBA, palette, 16-bit), JPEG (gray, RGB) and BMP (24-bit, 8-bit);
mapsfile, h5params: HDF5 files from ddad's writers (fuzz_make_seeds);
dataset:  small trees in every layout, encoded as fuzz_targets.c describes;
thresholds: threshold.json files as ddad-eval (with test_check) and
          ddad-predict --calib write them, format version 1, several
          categories, and files to refuse (bad_*);
tiff:     a float32 map from ddad's writer (fuzz_make_seeds), tifffile's
          strips and tiles in both byte orders and every sample type, Pillow's
          PackBits and float files, and files to refuse (bad_*: RGB, BigTIFF,
          LZW, float16).
The output is committed; rerun after a format change (HDF5 seeds differ from run
to run only in their object timestamps).
"""
import io
import os
import struct
import subprocess
import sys

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")
SEP = "\n#@@\n"


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def config_seeds():
    import re
    cdir = os.path.join(SRC, "configs")
    base_re = re.compile(r"^base: *(\S+)$", re.M)
    for fn in sorted(os.listdir(cdir)):
        if not fn.endswith(".yaml"):
            continue
        # Inline the base chain as sections 1, 2, ... (base: k.yaml).
        sections = [open(os.path.join(cdir, fn)).read()]
        while len(sections) < 4:
            m = base_re.search(sections[-1])
            if not m:
                break
            k = len(sections)
            sections[-1] = base_re.sub("base: %d.yaml" % k, sections[-1])
            sections.append(open(os.path.join(cdir, m.group(1))).read())
        put("config", fn, SEP.join(sections))
    put("config", "sets.yaml", "seed: 3\n" + SEP + SEP + SEP + SEP +
        "train.iterations=500\nscore.timesteps=[5,50]\ndata.category=[bottle,cable]\nrun.name=x\n")
    put("config", "chain.yaml", "base: 1.yaml\nmodel.channels: 64\n" + SEP +
        "base: 2.yaml\ndata: {image_size: 128}\n" + SEP + "diffusion:\n  steps: 1000\n")


def image_seeds():
    def save(name, im, fmt, **kw):
        b = io.BytesIO()
        im.save(b, fmt, **kw)
        put("image", name, b.getvalue())

    rgb = Image.new("RGB", (6, 4))
    rgb.putdata([(x * 40, y * 60, (x + y) * 20) for y in range(4) for x in range(6)])
    save("pil_rgb.png", rgb, "PNG")
    save("pil_gray.png", rgb.convert("L"), "PNG")
    save("pil_rgba.png", rgb.convert("RGBA"), "PNG")
    save("pil_palette.png", rgb.convert("P"), "PNG")
    save("pil_gray16.png", rgb.convert("L").convert("I"), "PNG")
    save("pil_1bit.png", rgb.convert("1"), "PNG")
    save("pil_rgb.jpg", rgb, "JPEG", quality=90)
    save("pil_gray.jpg", rgb.convert("L"), "JPEG", quality=90)
    save("pil_progressive.jpg", rgb, "JPEG", quality=80, progressive=True)
    save("pil_rgb24.bmp", rgb, "BMP")
    save("pil_palette8.bmp", rgb.convert("P"), "BMP")
    save("pil_rgba32.bmp", rgb.convert("RGBA"), "BMP")


RGB, MASK, MASK6, DIR = 0xFFFF, 0xFFFE, 0xFFFD, 0xFFFC


def tree(fmt, flags, records):
    out = bytearray([fmt, flags])
    for path, content in records:
        p = path.encode()
        out += bytes([len(p)]) + p
        if isinstance(content, int):
            out += struct.pack("<H", content)
        else:
            c = content.encode() if isinstance(content, str) else content
            out += struct.pack("<H", len(c)) + c
    return bytes(out)


def dataset_seeds():
    put("dataset", "mvtec.bin", tree(0, 1, [
        ("c/train/good/000.png", RGB), ("c/train/good/001.png", RGB),
        ("c/test/good/000.png", RGB), ("c/test/crack/000.png", RGB),
        ("c/ground_truth/crack/000_mask.png", MASK)]))
    put("dataset", "mvtec_two_categories.bin", tree(0, 1 | 4, [
        ("c/train/good/000.png", RGB), ("c/test/crack/000.png", RGB),
        ("c/ground_truth/crack/000_mask.png", MASK),
        ("d/train/good/a.png", RGB), ("d/test/good/b.png", RGB)]))
    put("dataset", "mvtec_synthetic_source.bin", tree(0, 1, [
        ("c/train/good/000.png", RGB), ("c/test/hole/000.png", RGB),
        ("c/ground_truth/hole/000_mask.png", MASK), ("c/test_source/hole/000.png", RGB)]))
    put("dataset", "visa_raw.bin", tree(1, 1, [
        ("split_csv/1cls.csv", "object,split,label,image,mask\n"
         "c,train,normal,c/Data/Images/Normal/0000.png,\n"
         "c,test,normal,c/Data/Images/Normal/0001.png,\n"
         "c,test,anomaly,c/Data/Images/Anomaly/0000.png,c/Data/Masks/Anomaly/0000.png\n"),
        ("c/Data/Images/Normal/0000.png", RGB), ("c/Data/Images/Normal/0001.png", RGB),
        ("c/Data/Images/Anomaly/0000.png", RGB), ("c/Data/Masks/Anomaly/0000.png", MASK)]))
    put("dataset", "btad.bin", tree(2, 1, [
        ("01/train/ok/0000.png", RGB), ("01/test/ok/0000.png", RGB), ("01/test/ko/0000.png", RGB),
        ("01/ground_truth/ko/0000.png", MASK)]))
    put("dataset", "folder.bin", tree(3, 1, [
        ("c/train/a.png", RGB), ("c/test/normal/b.png", RGB), ("c/test/abnormal/x.png", RGB),
        ("c/masks/x.png", MASK)]))
    put("dataset", "folder_no_masks.bin", tree(3, 2, [
        ("c/train/a.png", RGB), ("c/test/normal/b.png", RGB), ("c/test/abnormal/x.png", RGB)]))
    put("dataset", "bad_mvtec_mask_size_mismatch.bin", tree(0, 1, [
        ("c/train/good/000.png", RGB), ("c/test/crack/000.png", RGB),
        ("c/ground_truth/crack/000_mask.png", MASK6)]))
    put("dataset", "bad_mvtec_empty_train.bin", tree(0, 1, [
        ("c/train/good", DIR), ("c/test/good/000.png", RGB)]))


def tiff_seeds():
    import numpy as np
    import tifffile

    def tf(name, a, **kw):
        b = io.BytesIO()
        tifffile.imwrite(b, a, **kw)
        put("tiff", name, b.getvalue())

    def pil(name, im, **kw):
        b = io.BytesIO()
        im.save(b, "TIFF", **kw)
        put("tiff", name, b.getvalue())

    yy, xx = np.mgrid[0:5, 0:6]
    f32 = (xx * 0.25 - yy * 1.5).astype(np.float32)
    tf("tifffile_f32.tif", f32)
    tf("tifffile_f32_be_strips.tif", f32, byteorder=">", rowsperstrip=2)
    tf("tifffile_f32_tiled.tif", np.tile(f32, (4, 3)), tile=(16, 16))
    tf("tifffile_f64_be.tif", f32.astype(np.float64) / 3, byteorder=">")
    tf("tifffile_u8.tif", (xx * 40 + yy).astype(np.uint8))
    tf("tifffile_i8.tif", (xx * 20 - yy * 9).astype(np.int8))
    tf("tifffile_u16_be_tiled.tif", (xx * 9000 + yy).astype(np.uint16), tile=(16, 16), byteorder=">")
    tf("tifffile_i16.tif", (xx * 5000 - 20000 + yy).astype(np.int16))
    tf("tifffile_u32.tif", (xx * 700000000 + yy).astype(np.uint32))
    tf("tifffile_i32_be.tif", (xx * 700000000 - 2000000000).astype(np.int32), byteorder=">")
    u8 = (np.where(xx < 3, 200, xx * 30 + yy)).astype(np.uint8)
    pil("pil_u8_packbits.tif", Image.fromarray(u8), compression="packbits")
    pil("pil_u16_packbits.tif", Image.fromarray(u8.astype(np.uint16) * 250), compression="packbits")
    pil("pil_f32.tif", Image.fromarray(f32, "F"))
    tf("bad_rgb.tif", np.stack([u8, u8, u8], -1))
    tf("bad_bigtiff.tif", f32, bigtiff=True)
    tf("bad_f16.tif", f32.astype(np.float16))
    pil("bad_lzw.tif", Image.fromarray(u8), compression="tiff_lzw")


def thresholds_seeds():
    import json
    check = {"good_images": 20, "good_flagged": 9, "defective_images": 63, "defective_flagged": 62,
             "normal_pixels": 320340, "normal_flagged": 6129, "good_image_pixels": 81920,
             "good_image_flagged": 166, "anomalous_pixels": 19628, "anomalous_flagged": 11652}
    entry = {"category": "bottle", "rule": "max", "image_threshold": 1.178901434, "pixel_threshold": 2.127487421,
             "image_min": 0.3295850158, "image_max": 1.178901434, "pixel_min": -0.4531693459,
             "pixel_max": 2.127487421, "images": 20, "defect_images": 0, "optimistic": False,
             "seen_in_training": False, "source": "20 held-out good images of bottle (data.val_split 0.1; not trained on; each scored with "
                       "the reference statistics of the other 19)"}

    def doc(entries, version=2):
        return json.dumps({"format": "ddad-threshold", "format_version": version,
                           "checkpoint": "runs/mvtec/bottle/checkpoints/step_0001000.h5",
                           "thresholds": entries}, indent=2) + "\n"

    put("thresholds", "eval.json", doc([dict(entry, test_check=check)]))
    put("thresholds", "calib.json", doc([dict(entry, rule="quantile:0.99", pixel_threshold=None,
                                             source="--calib line2/: 40 good images \"new\" \u00e9")]))
    put("thresholds", "unified.json", doc([dict(entry, test_check=check),
                                           dict(entry, category="cable", rule="f1", optimistic=True,
                                                defect_images=12)]))
    put("thresholds", "training.json", doc([dict(entry, seen_in_training=True, images=8,
                                                source="the last 8 good training images of bottle (seen in training)")]))
    put("thresholds", "version1.json", json.dumps({"format": "ddad-threshold", "format_version": 1,
                                                   "source": "max over good training images (seen in training)",
                                                   "checkpoint": "x.h5",
                                                   "thresholds": [{"category": "bottle", "image_threshold": 2.5,
                                                                   "pixel_threshold": None, "images": 8}]}))
    put("thresholds", "bad_negative_count.json", doc([dict(entry, test_check=dict(check, good_flagged=-1))]))
    put("thresholds", "bad_no_category.json", doc([{"rule": "max", "image_threshold": 1}]))
    put("thresholds", "bad_version.json", doc([entry], version=9))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_seeds.py BUILD/bin/fuzz_make_seeds")
    os.makedirs(CORPUS, exist_ok=True)
    subprocess.run([sys.argv[1], CORPUS], check=True)
    config_seeds()
    image_seeds()
    dataset_seeds()
    tiff_seeds()
    thresholds_seeds()


if __name__ == "__main__":
    main()

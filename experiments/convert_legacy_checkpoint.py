#!/usr/bin/python3
"""Re-save a PyTorch checkpoint in the zip format that ddad-import reads.

    /usr/bin/python3 experiments/convert_legacy_checkpoint.py OLD.pth NEW.pt

PyTorch checkpoints written before 1.6 (or with
_use_new_zipfile_serialization=False) use a legacy format that only Python's
torch.load understands; ddad-import (libtorch, C++) reads the zip format. This
loads OLD.pth on the CPU and writes NEW.pt with torch.save in the zip format.

A container such as {'state_dict': ...} or {'model': ...} is unwrapped to the
state_dict inside, and an OrderedDict becomes a plain dict of tensors, so the
output is always the plain dict ddad-import expects. Needs only torch.
"""
import argparse
import os
import sys

import torch


def unwrap(obj):
    """The dict of tensors inside obj (obj itself, or its 'state_dict'/'model')."""
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict(), "module"
    if not isinstance(obj, dict):
        raise ValueError("holds a %s, not a state_dict" % type(obj).__name__)
    if all(torch.is_tensor(v) for v in obj.values()):
        return obj, ""
    for key in ("state_dict", "model"):
        inner = obj.get(key)
        if isinstance(inner, torch.nn.Module):
            return inner.state_dict(), key
        if isinstance(inner, dict) and all(torch.is_tensor(v) for v in inner.values()):
            return inner, key
    bad = next(k for k, v in obj.items() if not torch.is_tensor(v))
    raise ValueError("key %r holds a %s, not a tensor, and there is no 'state_dict' or 'model' "
                     "entry holding a dict of tensors" % (bad, type(obj[bad]).__name__))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help="checkpoint readable by torch.load (legacy or zip format)")
    ap.add_argument("output", help="zip-format checkpoint to write (a plain dict of tensors)")
    args = ap.parse_args()
    if os.path.abspath(args.input) == os.path.abspath(args.output):
        sys.exit("error: input and output are the same file")
    try:
        obj = torch.load(args.input, map_location="cpu")
    except Exception as e:  # torch raises many types for foreign files
        sys.exit("error: %s: torch.load failed: %s" % (args.input, e))
    try:
        state, container = unwrap(obj)
    except ValueError as e:
        sys.exit("error: %s: %s" % (args.input, e))
    plain = {str(k): v.detach().contiguous() for k, v in state.items()}
    tmp = args.output + ".tmp"
    torch.save(plain, tmp, _use_new_zipfile_serialization=True)
    os.replace(tmp, args.output)
    print("%s: %d tensors%s -> %s" % (args.input, len(plain),
                                      " (from '%s')" % container if container else "", args.output))


if __name__ == "__main__":
    main()

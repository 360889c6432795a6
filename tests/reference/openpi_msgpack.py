"""openpi's msgpack_numpy convention, written from its documented wire format, for the serve tests.

arrays travel as {b"__ndarray__": True, b"data": bytes, b"dtype": dtype.str, b"shape": shape},
numpy scalars as {b"__npgeneric__": True, b"data": value, b"dtype": dtype.str}; the marker keys are
bytes (msgpack bin), ordinary keys str.

usage:
  openpi_msgpack.py pack-request OUT   a request as openpi's LIBERO example sends it
  openpi_msgpack.py unpack IN          decode a message the C++ side wrote, print a JSON summary
"""
import json
import sys

import msgpack
import numpy as np


def pack_default(obj):
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind in ("V", "O", "c"):
            raise ValueError(f"unsupported dtype {obj.dtype}")
        return {b"__ndarray__": True, b"data": obj.tobytes(), b"dtype": obj.dtype.str,
                b"shape": obj.shape}
    if isinstance(obj, np.generic):
        return {b"__npgeneric__": True, b"data": obj.item(), b"dtype": obj.dtype.str}
    return obj


def unpack_hook(obj):
    if b"__ndarray__" in obj:
        return np.ndarray(buffer=obj[b"data"], dtype=np.dtype(obj[b"dtype"]), shape=obj[b"shape"])
    if b"__npgeneric__" in obj:
        return np.dtype(obj[b"dtype"]).type(obj[b"data"])
    return obj


def packb(obj):
    return msgpack.packb(obj, default=pack_default, use_bin_type=True)


def unpackb(data):
    return msgpack.unpackb(data, object_hook=unpack_hook, raw=False)


def request():
    rng = np.random.default_rng(0)
    return {
        "observation/image": rng.integers(0, 256, (224, 224, 3), dtype=np.uint8),
        "observation/wrist_image": rng.integers(0, 256, (224, 224, 3), dtype=np.uint8),
        "observation/state": np.array([0.1, -0.2, 1.05, 3.1, 0.05, -0.02, 0.039, -0.039]),
        "prompt": "put the red cube on the plate",
        "seed": np.int64(7),
    }


def summary(value):
    if isinstance(value, dict):
        return {str(k): summary(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return {"ndarray": True, "dtype": value.dtype.str, "shape": list(value.shape),
                "sum": float(value.astype(np.float64).sum())}
    if isinstance(value, np.generic):
        return {"npgeneric": True, "dtype": value.dtype.str, "value": value.item()}
    return value


def main():
    if sys.argv[1] == "pack-request":
        with open(sys.argv[2], "wb") as f:
            f.write(packb(request()))
    elif sys.argv[1] == "unpack":
        with open(sys.argv[2], "rb") as f:
            print(json.dumps(summary(unpackb(f.read()))))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()

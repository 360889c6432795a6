#!/usr/bin/python3
"""An independent writer of RLDS datasets in the TFDS layout, for tests/data/rlds_test.cpp.

It writes dataset_info.json, features.json and TFRecord shards of tf.train.Example episodes,
flattened the way TFDS flattens them, for two Open X-Embodiment datasets: Bridge-V2
("bridge_dataset") and Fractal ("fractal20220817_data"), with small JPEG frames. The Example
schema is built here from its field numbers with Python's protobuf package (no .proto file of the
project, no TensorFlow). Beside each dataset it writes expected.json: what the C++ reader must
produce, computed here independently (the OXE gripper conventions, rotations through matrices).

usage: rlds_writer.py OUT_DIR
"""
import io
import json
import math
import os
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tfrecord_writer import crc32c, masked  # noqa: E402


def example_class():
    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="indep_example.proto", package="indep",
                                             syntax="proto3")

    def message(name, fields, parent=None):
        m = (parent.nested_type if parent else fdp.message_type).add(name=name)
        for fname, number, ftype, label, type_name, oneof in fields:
            f = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                f.type_name = type_name
            if oneof is not None:
                f.oneof_index = oneof
        return m

    R, O = F.LABEL_REPEATED, F.LABEL_OPTIONAL
    message("BytesList", [("value", 1, F.TYPE_BYTES, R, None, None)])
    message("FloatList", [("value", 1, F.TYPE_FLOAT, R, None, None)])
    message("Int64List", [("value", 1, F.TYPE_INT64, R, None, None)])
    feature = message("Feature", [
        ("bytes_list", 1, F.TYPE_MESSAGE, O, ".indep.BytesList", 0),
        ("float_list", 2, F.TYPE_MESSAGE, O, ".indep.FloatList", 0),
        ("int64_list", 3, F.TYPE_MESSAGE, O, ".indep.Int64List", 0),
    ])
    feature.oneof_decl.add(name="kind")
    features = message("Features", [("feature", 1, F.TYPE_MESSAGE, R, ".indep.Features.FeatureEntry",
                                     None)])
    entry = message("FeatureEntry", [("key", 1, F.TYPE_STRING, O, None, None),
                                     ("value", 2, F.TYPE_MESSAGE, O, ".indep.Feature", None)],
                    parent=features)
    entry.options.map_entry = True
    message("Example", [("features", 1, F.TYPE_MESSAGE, O, ".indep.Features", None)])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName(
        "indep.Example"))


Example = example_class()


def jpeg(rgb, width, height):
    buf = io.BytesIO()
    Image.new("RGB", (width, height), rgb).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def write_shard(path, records):
    with open(path, "wb") as f:
        for r in records:
            header = struct.pack("<Q", len(r))
            f.write(header + struct.pack("<I", masked(crc32c(header))))
            f.write(r + struct.pack("<I", masked(crc32c(r))))


def tensor(shape, dtype):
    return {"pythonClassName": "tensorflow_datasets.core.features.tensor_feature.Tensor",
            "tensor": {"shape": {"dimensions": [str(d) for d in shape]} if shape else {},
                       "dtype": dtype, "encoding": "none"}}


def scalar(dtype):
    return {"pythonClassName": "tensorflow_datasets.core.features.scalar.Scalar",
            "tensor": {"shape": {}, "dtype": dtype, "encoding": "none"}}


def image(h, w):
    return {"pythonClassName": "tensorflow_datasets.core.features.image_feature.Image",
            "image": {"shape": {"dimensions": [str(h), str(w), "3"]}, "dtype": "uint8",
                      "encodingFormat": "jpeg"}}


def text():
    return {"pythonClassName": "tensorflow_datasets.core.features.text_feature.Text", "text": {}}


def fdict(features):
    return {"pythonClassName": "tensorflow_datasets.core.features.features_dict.FeaturesDict",
            "featuresDict": {"features": features}}


def episode_features(steps, metadata):
    return fdict({"steps": {"pythonClassName":
                            "tensorflow_datasets.core.features.dataset_feature.Dataset",
                            "sequence": {"feature": fdict(steps), "length": "-1"}},
                  "episode_metadata": fdict(metadata)})


def example(flat):
    """flat: key -> ("bytes"|"float"|"int", list)"""
    ex = Example()
    for key, (kind, values) in flat.items():
        f = ex.features.feature[key]
        if kind == "bytes":
            f.bytes_list.value.extend(values)
        elif kind == "float":
            f.float_list.value.extend(values)
        else:
            f.int64_list.value.extend(values)
    return ex.SerializeToString()


def write_dataset(root, name, features, shards):
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "features.json"), "w") as f:
        json.dump(features, f, indent=1)
    info = {"name": name, "version": "1.0.0", "fileFormat": "tfrecord", "moduleName": name,
            "splits": [{"name": "train", "numBytes": "0",
                        "filepathTemplate": "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}",
                        "shardLengths": [str(len(s)) for s in shards]}]}
    with open(os.path.join(root, "dataset_info.json"), "w") as f:
        json.dump(info, f, indent=1)
    for i, records in enumerate(shards):
        write_shard(os.path.join(root, "%s-train.tfrecord-%05d-of-%05d" % (name, i, len(shards))),
                    records)


# --- the reference conventions, written independently of the C++ ---------------------------------

def rotation_to_axis_angle(R):
    angle = math.acos(max(-1.0, min(1.0, (R[0][0] + R[1][1] + R[2][2] - 1) / 2)))
    if angle < 1e-9:
        return [0.0, 0.0, 0.0]
    k = 1 / (2 * math.sin(angle))
    axis = [(R[2][1] - R[1][2]) * k, (R[0][2] - R[2][0]) * k, (R[1][0] - R[0][1]) * k]
    return [angle * a for a in axis]


def matmul(A, B):
    return [[sum(A[i][k] * B[k][j] for k in range(3)) for j in range(3)] for i in range(3)]


def euler_xyz_matrix(roll, pitch, yaw):
    cr, sr, cp, sp, cy, sy = (math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch),
                              math.cos(yaw), math.sin(yaw))
    Rx = [[1, 0, 0], [0, cr, -sr], [0, sr, cr]]
    Ry = [[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]]
    Rz = [[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]]
    return matmul(Rz, matmul(Ry, Rx))


def quat_matrix(x, y, z, w):
    n = math.sqrt(x * x + y * y + z * z + w * w)
    x, y, z, w = x / n, y / n, z / n, w / n
    return [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]


def bridge_open(command):
    """1 open / 0 closed: > 0.95 open, < 0.05 closed, otherwise the next decided value; after
    the last decided value, the last value rounded at 0.5 (asyncvla's rule: every value 0 or 1)"""
    out, nxt = [0.0] * len(command), (1.0 if command[-1] >= 0.5 else 0.0)
    for i in reversed(range(len(command))):
        if command[i] > 0.95:
            nxt = 1.0
        elif command[i] < 0.05:
            nxt = 0.0
        out[i] = nxt
    return out


def fractal_open(command):
    """relative (+1 close, -1 open) to absolute 1 open / 0 closed"""
    steps = [1 if c < -0.1 else (-1 if c > 0.1 else 0) for c in command]
    nonzero = [s for s in steps if s != 0]
    state = -nonzero[0] if nonzero else 1
    out = []
    for s in steps:
        if s != 0:
            state = s
        out.append(1.0 if state > 0 else 0.0)
    return out


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def colour(e, t):
    return (20 + 30 * e, (10 * t) % 250, 200 - 5 * t)


def bridge(root):
    H, W = 32, 40
    steps = {"action": tensor([7], "float32"), "is_first": scalar("bool"),
             "is_last": scalar("bool"), "is_terminal": scalar("bool"),
             "reward": scalar("float32"), "language_instruction": text(),
             "observation": fdict({"image_0": image(H, W), "state": tensor([7], "float32")})}
    features = episode_features(steps, {"file_path": text()})
    lengths = [5, 7, 4, 6]
    instructions = ["put the spoon on the towel", "put the carrot on the plate", "",
                    "stack the green block on the yellow block"]
    records, expected = [], []
    for e, (T, instr) in enumerate(zip(lengths, instructions)):
        action, state, grip_cmd = [], [], []
        for t in range(T):
            g = [1.0, 0.99, 0.5, 0.02, 0.3, 0.97, 0.6][(t + e) % 7]
            grip_cmd.append(f32(g))
            action += [0.01 * t, -0.02 * e, 0.005, 0.1 * t, -0.05, 0.02 * e, g]
            state += [0.3 + 0.01 * t, -0.1 * e, 0.2, 0.3 * t - 0.5, 0.2 * e - 0.3, 1.5 - 0.4 * t,
                      0.5 + 0.05 * t]
        flat = {
            "steps/action": ("float", action),
            "steps/is_first": ("int", [1 if t == 0 else 0 for t in range(T)]),
            "steps/is_last": ("int", [1 if t == T - 1 else 0 for t in range(T)]),
            "steps/is_terminal": ("int", [1 if t == T - 1 else 0 for t in range(T)]),
            "steps/reward": ("float", [1.0 if t == T - 1 else 0.0 for t in range(T)]),
            "steps/language_instruction": ("bytes", [instr.encode()] * T),
            "steps/observation/image_0": ("bytes", [jpeg(colour(e, t), W, H) for t in range(T)]),
            "steps/observation/state": ("float", state),
            "episode_metadata/file_path": ("bytes", [b"/raw/bridge_%d" % e]),
        }
        records.append(example(flat))
        if not instr:
            continue  # the reader skips episodes without language, as the OXE mixture does
        opened = bridge_open(grip_cmd)
        ep = {"instruction": instr, "n_steps": T, "actions": [], "raw_state": [],
              "colour": [colour(e, t) for t in range(T)], "height": H, "width": W}
        for t in range(T):
            a = [f32(v) for v in action[7 * t:7 * t + 7]]
            ep["actions"].append(a[:6] + [1 - 2 * opened[t]])
            s = [f32(v) for v in state[7 * t:7 * t + 7]]
            aa = rotation_to_axis_angle(euler_xyz_matrix(s[3], s[4], s[5]))
            ep["raw_state"].append(s[:3] + aa + [s[6], s[6]])
        expected.append(ep)
    write_dataset(root, "bridge_dataset", features, [records[:2], records[2:]])
    with open(os.path.join(root, "expected.json"), "w") as f:
        json.dump(expected, f)


def fractal(root):
    H, W = 24, 30
    steps = {"action": fdict({"world_vector": tensor([3], "float32"),
                              "rotation_delta": tensor([3], "float32"),
                              "gripper_closedness_action": tensor([1], "float32"),
                              "terminate_episode": tensor([3], "int32")}),
             "is_first": scalar("bool"), "is_last": scalar("bool"),
             "observation": fdict({"image": image(H, W),
                                   "base_pose_tool_reached": tensor([7], "float32"),
                                   "gripper_closed": tensor([1], "float32"),
                                   "natural_language_instruction": tensor([], "string")})}
    features = episode_features(steps, {"episode_id": tensor([], "string")})
    lengths = [6, 5]
    instructions = ["pick coke can", "open top drawer"]
    grip_cmds = [[0.0, 0.0, 1.0, 0.0, -1.0, 0.0], [0.05, -1.0, 0.0, 1.0, 0.0]]
    records, expected = [], []
    for e, (T, instr) in enumerate(zip(lengths, instructions)):
        wv, rd, gc, term, pose, closed = [], [], [], [], [], []
        for t in range(T):
            wv += [0.02 * t, 0.01 * e, -0.03]
            rd += [0.05, -0.02 * t, 0.01 * e]
            gc += [grip_cmds[e][t]]
            term += [0, 1, 0]
            q = [0.1 * t, -0.2, 0.3 * e + 0.1, 0.9]
            pose += [0.5, 0.1 * t, 0.7 - 0.01 * e] + q
            closed += [1.0 if t >= 3 else 0.0]
        flat = {
            "steps/action/world_vector": ("float", wv),
            "steps/action/rotation_delta": ("float", rd),
            "steps/action/gripper_closedness_action": ("float", gc),
            "steps/action/terminate_episode": ("int", term),
            "steps/is_first": ("int", [1 if t == 0 else 0 for t in range(T)]),
            "steps/is_last": ("int", [1 if t == T - 1 else 0 for t in range(T)]),
            "steps/observation/image": ("bytes", [jpeg(colour(e, t), W, H) for t in range(T)]),
            "steps/observation/base_pose_tool_reached": ("float", pose),
            "steps/observation/gripper_closed": ("float", closed),
            "steps/observation/natural_language_instruction": ("bytes", [instr.encode()] * T),
            "episode_metadata/episode_id": ("bytes", [b"fractal_%d" % e]),
        }
        records.append(example(flat))
        opened = fractal_open([f32(c) for c in gc])
        ep = {"instruction": instr, "n_steps": T, "actions": [], "raw_state": [],
              "colour": [colour(e, t) for t in range(T)], "height": H, "width": W}
        for t in range(T):
            ep["actions"].append([f32(v) for v in wv[3 * t:3 * t + 3] + rd[3 * t:3 * t + 3]] +
                                 [1 - 2 * opened[t]])
            p = [f32(v) for v in pose[7 * t:7 * t + 7]]
            aa = rotation_to_axis_angle(quat_matrix(*p[3:7]))
            g = 1 - closed[t]
            ep["raw_state"].append(p[:3] + aa + [g, g])
        expected.append(ep)
    write_dataset(root, "fractal20220817_data", features, [records])
    with open(os.path.join(root, "expected.json"), "w") as f:
        json.dump(expected, f)


def main():
    out = sys.argv[1]
    bridge(os.path.join(out, "bridge_dataset", "1.0.0"))
    fractal(os.path.join(out, "fractal20220817_data", "0.1.0"))


if __name__ == "__main__":
    main()

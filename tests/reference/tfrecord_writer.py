#!/usr/bin/python3
"""An independent TFRecord writer for tests/io/tfrecord_test.cpp: the framing as TensorFlow writes
it (length, masked crc32c of the length, data, masked crc32c of the data), with its own bitwise
crc32c. No TensorFlow needed.

usage: tfrecord_writer.py OUT RECORDS_HEX_FILE   (one record per line, as hex; an empty line is an
empty record)
"""
import struct
import sys


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def main():
    out = sys.argv[1]
    with open(sys.argv[2]) as f:
        records = [bytes.fromhex(line.strip()) for line in f.read().split("\n")[:-1]]
    with open(out, "wb") as f:
        for r in records:
            header = struct.pack("<Q", len(r))
            f.write(header)
            f.write(struct.pack("<I", masked(crc32c(header))))
            f.write(r)
            f.write(struct.pack("<I", masked(crc32c(r))))
    # the standard check value of crc32c
    assert crc32c(b"123456789") == 0xE3069283


if __name__ == "__main__":
    main()

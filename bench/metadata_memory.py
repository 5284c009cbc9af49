#!/usr/bin/env python3
"""metadata_memory.py — what hostile metadata and tensor tables cost in memory,
per byte of file: the tiny model of Tests/data/make_bad_gguf.py with 40 MiB of u8
array, of empty strings, of 16-byte strings (the costliest length: the first
that Swift keeps out of line), or 500,000 one-float tensors added. Each file is
loaded in a child process; the cost is its anonymous resident memory (RSS minus
file-backed pages: the map itself is not counted) minus the valid file's.

    PYTHONPATH=bindings/python RTX_LIBRARY=$PWD/build/lib/librtx.so python3 bench/metadata_memory.py [WORK_DIR]
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "data"))
import make_bad_gguf as g  # noqa: E402

CHILD = """
import os, sys, rtx
try:
    m = rtx.Model(sys.argv[1]); status = "RTX_OK"
except rtx.RTXError as e:
    status = e.status_name
resident, shared = [int(x) for x in open("/proc/self/statm").read().split()[1:3]]
print(status, (resident - shared) * os.sysconf("SC_PAGE_SIZE"))
"""


def anonymous_rss(path: str) -> tuple[str, int]:
    r = subprocess.run([sys.executable, "-c", CHILD, path], capture_output=True, text=True, check=True)
    status, size = r.stdout.split()
    return status, int(size)


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="rtx_metadata_memory_")
    spec = g.tiny_spec()
    n = 40 << 20

    def write(name: str, s) -> str:
        path = os.path.join(out, name + ".gguf")
        with open(path, "wb") as f:
            f.write(g.serialize(s)[0])
        return path

    def array(name: str, elem: int, count: int, body: bytes) -> str:
        return write(name, g._raw_kv(spec, "general." + name, g._u32(g.ARRAY) + g._u32(elem) + g._u64(count) + body, False))

    with_tensors = g._copy(spec)
    with_tensors.tensors += [g.Tensor(f"x.{i}", [1], g.GGML_F32, b"\0" * 4) for i in range(500_000)]
    files = {
        "u8 array, 40 MiB": array("u8", g.U8, n, bytes(n)),
        "empty strings, 40 MiB": array("s0", g.STRING, n // 8, bytes(n)),
        "16-byte strings, 40 MiB": array("s16", g.STRING, n // 24, (g._u64(16) + b"a" * 16) * (n // 24)),
        "500,000 extra tensors": write("tensors", with_tensors),
    }
    _, base = anonymous_rss(write("valid", spec))
    print(f"valid tiny model: {base / 2**20:.1f} MiB anonymous RSS")
    for what, path in files.items():
        status, rss = anonymous_rss(path)
        size = os.path.getsize(path)
        print(f"{what}: file {size / 2**20:.1f} MiB, {status}, +{(rss - base) / 2**20:.1f} MiB = {(rss - base) / size:.2f}x the file")


if __name__ == "__main__":
    main()

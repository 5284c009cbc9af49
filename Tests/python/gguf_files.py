"""Rewriting GGUF files in tests: one copy of a file's keys and tensors, with
the tensors (and optionally keys) a test changes. Used to make tiny cuts of
the real models, f32 copies and malformed variants."""
from typing import Callable, Dict, Optional

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter
from gguf.quants import dequantize


def float_tensors(reader: GGUFReader) -> Dict[str, np.ndarray]:
    """Every tensor dequantized to f32, in NumPy order (rows, columns)."""
    return {t.name: dequantize(t.data, t.tensor_type).reshape([int(d) for d in reversed(t.shape)]).astype(np.float32)
            for t in reader.tensors}


def rewrite_gguf(source, path, tensors: Callable[[GGUFReader], Dict[str, np.ndarray]],
                 key: Optional[Callable[[str, object], object]] = None):
    """Write `path`: `source`'s keys (each passed through key(name, value) when
    given) and the tensors `tensors(reader)` returns, stored as given."""
    reader = GGUFReader(str(source))
    w = GGUFWriter(str(path), str(reader.fields["general.architecture"].contents()))
    for field in reader.fields.values():
        # GGUF.* are the header's own fields; the writer sets the architecture and alignment.
        if field.name.startswith("GGUF.") or field.name in ("general.architecture", "general.alignment"):
            continue
        vtype = field.types[0]
        value = field.contents() if key is None else key(field.name, field.contents())
        if vtype == GGUFValueType.ARRAY:
            w.add_key_value(field.name, value, vtype, sub_type=field.types[-1])
        else:
            w.add_key_value(field.name, value, vtype)
    for name, values in tensors(reader).items():
        w.add_tensor(name, values)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path

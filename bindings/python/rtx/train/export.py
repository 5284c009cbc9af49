# export.py — the trained model written as a recursive GGUF that RTX loads: every
# metadata key and every tensor that did not train is copied from the input file
# byte for byte (same order, same type); trained tensors are written in the
# chosen storage types (norms always f32, as `rtx convert` writes them). Exit
# gates the module created (the input had none) follow the input's tensors, f32.
from __future__ import annotations

import os
from typing import Dict, Iterable

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter
from gguf.quants import quantize

from .model import RecursiveModel

LORA_TYPES = ("f32", "f16", "bf16")
SHARED_TYPES = ("f32", "f16", "bf16", "q8_0")
_TYPES = {"f32": GGMLQuantizationType.F32, "f16": GGMLQuantizationType.F16,
          "bf16": GGMLQuantizationType.BF16, "q8_0": GGMLQuantizationType.Q8_0}


def _encode(values: np.ndarray, type_name: str):
    """(data, raw_dtype) for GGUFWriter.add_tensor."""
    t = _TYPES[type_name]
    if t == GGMLQuantizationType.F32:
        return values.astype(np.float32), None
    if t == GGMLQuantizationType.F16:
        return values.astype(np.float16), None
    return quantize(values.astype(np.float32), t), t


def _copy_metadata(reader: GGUFReader, writer: GGUFWriter) -> None:
    for field in reader.fields.values():
        # GGUF.* are the header's own fields; the writer sets the architecture and alignment.
        if field.name.startswith("GGUF.") or field.name in ("general.architecture", "general.alignment"):
            continue
        vtype = field.types[0]
        if vtype == GGUFValueType.ARRAY:
            writer.add_key_value(field.name, field.contents(), vtype, sub_type=field.types[-1])
        else:
            writer.add_key_value(field.name, field.contents(), vtype)


def write_gguf(model: RecursiveModel, output: "os.PathLike[str] | str", trained: Iterable[str],
               lora_type: str = "f32", shared_type: str = "f32") -> None:
    """Write `model` over its input file: tensors named in `trained` from the
    module, the rest copied, then the module's tensors the file lacks (exit gates
    added by add_gates(): w_b as GGUF dims [d], c_b as [1], f32)."""
    if lora_type not in LORA_TYPES:
        raise ValueError(f"LoRA type '{lora_type}' cannot be written (use {', '.join(LORA_TYPES)})")
    if shared_type not in SHARED_TYPES:
        raise ValueError(f"shared block type '{shared_type}' cannot be written (use {', '.join(SHARED_TYPES)})")
    trained = set(trained)
    reader = GGUFReader(model.path)
    params: Dict[str, tuple] = {name: (param, part) for name, param, part in model.gguf_tensors()}
    writer = GGUFWriter(os.fspath(output), str(reader.fields["general.architecture"].contents()))
    _copy_metadata(reader, writer)
    for t in reader.tensors:
        if t.name not in trained:
            writer.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
            continue
        param, part = params[t.name]
        values = param.detach().float().cpu().numpy()
        type_name = {"lora": lora_type, "shared": shared_type}.get(part, "f32")
        data, raw_dtype = _encode(values, type_name)
        writer.add_tensor(t.name, data, raw_dtype=raw_dtype)
    in_file = {t.name for t in reader.tensors}
    for name, (param, part) in params.items():
        if name not in in_file:
            assert part == "gates", f"{name}: only exit gates can be new in the output"
            writer.add_tensor(name, param.detach().cpu().numpy().astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

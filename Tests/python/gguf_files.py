"""Rewriting GGUF files in tests: one copy of a file's keys and tensors, with
the tensors (and optionally keys) a test changes. Used to make tiny cuts of
the real models, f32 copies and malformed variants; and tiny random models
under a real model's tokenizer (write_tiny: the trainer's tests, the fuzz seeds)."""
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


def cut_tokenizer(reader: GGUFReader, n_vocab: int):
    """Tokenizer fields of `reader` restricted to its first n_vocab tokens (BPE
    merges kept only when both parts and the result survive)."""
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()[:n_vocab]
    kept = set(tokens)
    cut = {"tokenizer.ggml.tokens": tokens}
    for key in ("tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
        if key in reader.fields:
            cut[key] = reader.fields[key].contents()[:n_vocab]
    if "tokenizer.ggml.merges" in reader.fields:
        cut["tokenizer.ggml.merges"] = [m for m in reader.fields["tokenizer.ggml.merges"].contents()
                                        if all(p in kept for p in m.split(" ")) and m.replace(" ", "") in kept]
    return cut


def write_tiny(source, path, arch, n_vocab, layers=4, embd=32, heads=4, heads_kv=2, head_dim=8, ff=64, seed=0,
               extra=()):
    """A random vanilla GGUF of `arch` with `source`'s tokenizer (cut to n_vocab)."""
    reader = GGUFReader(str(source))
    rng = np.random.default_rng(seed)
    w = GGUFWriter(str(path), arch)
    cut = cut_tokenizer(reader, n_vocab)
    for f in reader.fields.values():
        if f.name.startswith(("GGUF.", arch + ".")) or f.name in ("general.architecture", "general.alignment"):
            continue
        value = cut.get(f.name, f.contents())
        if f.types[0] == GGUFValueType.ARRAY:
            w.add_key_value(f.name, value, f.types[0], sub_type=f.types[-1])
        else:
            w.add_key_value(f.name, value, f.types[0])
    for key, value in [("block_count", layers), ("embedding_length", embd), ("feed_forward_length", ff),
                       ("attention.head_count", heads), ("attention.head_count_kv", heads_kv),
                       ("attention.key_length", head_dim), ("attention.value_length", head_dim),
                       ("context_length", 256), *extra]:
        (w.add_float32 if isinstance(value, float) else w.add_uint32)(f"{arch}.{key}", value)
    w.add_float32(f"{arch}.attention.layer_norm_rms_epsilon", 1e-6)
    q, kv = heads * head_dim, heads_kv * head_dim
    mat = lambda *s: (rng.standard_normal(s) / np.sqrt(s[-1])).astype(np.float32)   # noqa: E731
    gain = lambda n: (1 + 0.1 * rng.standard_normal(n)).astype(np.float32)          # noqa: E731
    w.add_tensor("token_embd.weight", (rng.standard_normal((n_vocab, embd)) * 0.5).astype(np.float32))
    w.add_tensor("output_norm.weight", gain(embd))
    for i in range(layers):
        block = {"attn_norm": gain(embd), "attn_q": mat(q, embd), "attn_k": mat(kv, embd), "attn_v": mat(kv, embd),
                 "attn_output": mat(embd, q), "ffn_norm": gain(embd), "ffn_gate": mat(ff, embd),
                 "ffn_up": mat(ff, embd), "ffn_down": mat(embd, ff)}
        if arch == "gemma3":
            block.update(attn_q_norm=gain(head_dim), attn_k_norm=gain(head_dim), post_attention_norm=gain(embd),
                         post_ffw_norm=gain(embd))
        for role, values in block.items():
            w.add_tensor(f"blk.{i}.{role}.weight", values)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path

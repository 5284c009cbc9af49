# test_safetensors.py — the Hugging Face loader (config.json + model.safetensors +
# tokenizer.json) against the GGUF loader on the same weights, and clear errors for
# bad safetensors files through the Python bindings.
#
# SmolLM2 is rewritten in HF layout by hf_models.write_llama_from_gguf (weights
# dequantized to F32, q/k rows un-permuted, tokenizer.json from the GGUF
# vocabulary). The GGUF side is the same dequantized weights written as an F32
# GGUF, so both loaders compute in f32 without activation quantization; they differ
# only in the RoPE layout (GGUF: permuted rows, adjacent pairs; HF: rows as trained,
# halves) and in summation order. Measured max |Δlogit| / std(logits) = 1.3e-5;
# the test allows 1e-4 (a wrong layout or a missed un-permute gives > 0.1).
import json
import struct

import numpy as np  # before rtx
import pytest

import rtx
from gguf_files import float_tensors, rewrite_gguf
from hf_models import write_llama_from_gguf

PROMPT = [{"role": "user", "content": "Count from 1 to 30, separated by commas."}]
MAX_REL_DIFF = 1e-4


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("safetensors")


@pytest.fixture(scope="module")
def hf_folder(model_path, workdir):
    return write_llama_from_gguf(model_path, workdir / "smollm2-hf")


@pytest.fixture(scope="module")
def f32_gguf(model_path, workdir):
    """The GGUF with every tensor dequantized to F32 (metadata unchanged)."""
    return rewrite_gguf(model_path, workdir / "smollm2-f32.gguf", float_tensors)


def all_logits(path, tokens):
    with rtx.Model(path) as m, m.context(n_ctx=256) as ctx:
        return ctx.eval(tokens, all_logits=True)


def test_hf_folder_gives_the_gguf_loaders_logits(hf_folder, f32_gguf, model):
    tokens = model.tokenize(model.chat(PROMPT), add_bos=False, special=True)
    a = all_logits(hf_folder, tokens)
    b = all_logits(f32_gguf, tokens)
    rel = np.abs(a - b).max() / b.std()
    print(f"safetensors vs GGUF (F32 weights): max |Δlogit| / std = {rel:.2e}")
    assert rel < MAX_REL_DIFF
    assert (a.argmax(-1) == b.argmax(-1)).all()


def test_hf_folder_loads_its_tokenizer_and_chat_format(hf_folder, model):
    with rtx.Model(hf_folder) as hf:
        assert hf.info.architecture == "llama"
        assert hf.info.n_vocab == model.info.n_vocab
        for text in ["Hello world", "  spaces\tand 12345 digits", "ünïcödé — ok?", "<|im_start|>user\nhi<|im_end|>"]:
            assert hf.tokenize(text, special=True) == model.tokenize(text, special=True), text
        assert hf.detokenize(model.tokenize("round trip ✓")) == "round trip ✓".encode()
        assert hf.chat(PROMPT) == model.chat(PROMPT), "chat template from tokenizer_config.json"


def test_hf_folder_generates_the_gguf_models_greedy_continuation(hf_folder, f32_gguf):
    def greedy(path):
        with rtx.Model(path) as m:
            gen = m.generate(m.chat(PROMPT), max_tokens=32, temperature=0.0, add_bos=False)
            return "".join(gen)
    assert greedy(hf_folder) == greedy(f32_gguf)


# -- bad files ------------------------------------------------------------------------
TINY_LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8,
              "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
              "num_key_value_heads": 1, "rms_norm_eps": 1e-5, "vocab_size": 4}


def tiny_llama_tensors():
    d, f, kv = 8, 16, 4
    shapes = {"model.embed_tokens.weight": (4, d), "model.norm.weight": (d,),
              "model.layers.0.input_layernorm.weight": (d,), "model.layers.0.post_attention_layernorm.weight": (d,),
              "model.layers.0.self_attn.q_proj.weight": (d, d), "model.layers.0.self_attn.k_proj.weight": (kv, d),
              "model.layers.0.self_attn.v_proj.weight": (kv, d), "model.layers.0.self_attn.o_proj.weight": (d, d),
              "model.layers.0.mlp.gate_proj.weight": (f, d), "model.layers.0.mlp.up_proj.weight": (f, d),
              "model.layers.0.mlp.down_proj.weight": (d, f)}
    return {k: np.full(s, 0.1, np.float32) for k, s in shapes.items()}


def raw_file(header: dict, data: bytes, header_bytes=None) -> bytes:
    h = header_bytes if header_bytes is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def good_header_and_data():
    header, data = {}, b""
    for name, t in tiny_llama_tensors().items():
        b = t.tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    return header, data


def write_folder(path, content: bytes, config=TINY_LLAMA):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config))
    (path / "model.safetensors").write_bytes(content)
    return path


def corrupted():
    header, data = good_header_and_data()
    q = "model.layers.0.self_attn.q_proj.weight"
    k = "model.layers.0.self_attn.k_proj.weight"
    def edit(name, **changes):
        h = json.loads(json.dumps(header))
        h[name].update(changes)
        return h
    begin, end = header[q]["data_offsets"]
    return {
        "header_length_past_end": (struct.pack("<Q", 1 << 20) + b"{}", "does not fit"),
        "header_length_absurd": (struct.pack("<Q", 1 << 40) + b"{}", "exceeds"),
        "short_file": (b"\x01\x02", "shorter than"),
        "json_error": (raw_file({}, data, header_bytes=b'{"a": [1, 2'), ""),
        "offsets_past_end": (raw_file(edit(q, data_offsets=[begin, len(data) + 64]), data), q),
        "overlapping": (raw_file(edit(k, data_offsets=[begin, begin + 4 * 4 * 8]), data), "overlaps"),
        "dtype_shape_mismatch": (raw_file(edit(q, dtype="F16"), data), q),
        "shape_mismatch": (raw_file(edit(q, shape=[8, 9]), data), q),
        "unknown_dtype": (raw_file(edit(q, dtype="F33"), data), "F33"),
    }


@pytest.mark.parametrize("case", sorted(corrupted()))
def test_bad_safetensors_files_are_format_errors_naming_the_problem(tmp_path, case):
    content, needle = corrupted()[case]
    folder = write_folder(tmp_path / case, content)
    with pytest.raises(rtx.FormatError) as e:
        rtx.Model(folder)
    assert "model.safetensors" in str(e.value) and needle in str(e.value), str(e.value)


def test_good_tiny_folder_loads_and_bad_configs_say_why(tmp_path):
    header, data = good_header_and_data()
    good = raw_file(header, data)
    with rtx.Model(write_folder(tmp_path / "good", good)) as m, m.context(n_ctx=8) as ctx:
        assert np.isfinite(ctx.eval([0, 1, 2])).all()
    with pytest.raises(rtx.FormatError, match="required tensor 'model.layers.0.mlp.up_proj.weight' is missing"):
        rtx.Model(write_folder(tmp_path / "missing", _without(header, data, "model.layers.0.mlp.up_proj.weight")))
    with pytest.raises(rtx.UnsupportedError, match="model_type 'mamba'"):
        rtx.Model(write_folder(tmp_path / "mamba", good, dict(TINY_LLAMA, model_type="mamba")))
    with pytest.raises(rtx.FormatError, match="hidden_size"):
        rtx.Model(write_folder(tmp_path / "noconfig", good, {k: v for k, v in TINY_LLAMA.items() if k != "hidden_size"}))
    with pytest.raises(rtx.FormatError, match=r"model.safetensors: tensor 'model.layers.0.mlp.gate_proj.weight' has shape \[8, 16\], expected \[8, 8\]"):
        rtx.Model(write_folder(tmp_path / "wrongshape", good, dict(TINY_LLAMA, intermediate_size=8)))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(rtx.RTXIOError, match="config.json"):
        rtx.Model(empty)


def _without(header, data, drop):
    """The file with tensor `drop` removed (data re-packed)."""
    h, out = {}, b""
    for name, info in header.items():
        if name == drop:
            continue
        b0, b1 = info["data_offsets"]
        h[name] = dict(info, data_offsets=[len(out), len(out) + b1 - b0])
        out += data[b0:b1]
    return raw_file(h, out)


def test_hf_folder_converts_to_a_recursive_gguf_with_the_same_logits(hf_folder, f32_gguf, model, tmp_path):
    """`rtx convert` from the safetensors folder (q/k rows permuted back to GGUF's
    interleaved RoPE layout, metadata and tokenizer written from config.json and
    tokenizer.json): full rank + per-position norms gives the F32 GGUF's logits
    (1e-3 × the spread, as test_recursion.py; measured ~1e-5)."""
    out = tmp_path / "smollm2-from-hf-full.gguf"
    rtx.convert(hf_folder, out, loops=2, init="average", lora_rank="full", per_position_norms=True)
    tokens = model.tokenize(model.chat(PROMPT), add_bos=False, special=True)
    with rtx.Model(out) as m:
        assert m.info.architecture == "llama" and m.info.n_loops == 2
        assert m.tokenize("Hello world") == model.tokenize("Hello world")
    a = all_logits(out, tokens)
    b = all_logits(f32_gguf, tokens)
    rel = np.abs(a - b).max() / b.std()
    print(f"recursive from HF vs F32 GGUF: max |Δlogit| / std = {rel:.2e}")
    assert rel < 1e-3

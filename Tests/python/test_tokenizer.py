# test_tokenizer.py — the engine's tokenizer (through the Python bindings) against
# HF `tokenizers` built from the same GGUF vocabulary and merges, on tricky strings
# and the GPL-3 text, plus decode round trips.
#
#   PYTHONPATH=bindings/python RTX_LIBRARY=build/lib/librtx.so \
#       python3 -m pytest Tests/python/test_tokenizer.py
#
# Model: conftest's `model_path` ($RTX_TEST_MODEL, default
# .models/SmolLM2-135M-Instruct.Q4_1.gguf: tokenizer.ggml.model = gpt2, pre = smollm).

import random
from pathlib import Path

import pytest

GPL3 = Path("/usr/share/common-licenses/GPL-3")

rtx = pytest.importorskip("rtx")
tokenizers = pytest.importorskip("tokenizers")
gguf = pytest.importorskip("gguf")

CONTROL = 3
USER_DEFINED = 4


def gguf_tokenizer_fields(path):
    reader = gguf.GGUFReader(str(path))

    def field(name):
        return reader.fields.get(name)

    def strings(name):
        f = field(name)
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data] if f else []

    def ints(name):
        f = field(name)
        return [int(f.parts[i][0]) for i in f.data] if f else []

    def string(name):
        f = field(name)
        return bytes(f.parts[f.data[0]]).decode("utf-8") if f else None

    tokens = strings("tokenizer.ggml.tokens")
    types = ints("tokenizer.ggml.token_type") or [1] * len(tokens)
    return {
        "model": string("tokenizer.ggml.model"),
        "pre": string("tokenizer.ggml.pre"),
        "tokens": tokens,
        "types": types,
        "merges": strings("tokenizer.ggml.merges"),
        "chat_template": string("tokenizer.chat_template"),
    }


def pre_tokenizer_for(pre):
    from tokenizers import Regex, pre_tokenizers

    if pre in ("smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva"):
        return pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ])
    if pre in ("llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral", "dbrx", "smaug-bpe"):
        llama3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
        return pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(llama3), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
    return pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)


@pytest.fixture(scope="module")
def vocab(model_path):
    fields = gguf_tokenizer_fields(model_path)
    if fields["model"] != "gpt2":
        pytest.skip(f"tokenizer model {fields['model']!r} is not byte-level BPE")
    return fields


@pytest.fixture(scope="module")
def model(model_path):
    with rtx.Model(model_path) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def reference(vocab):
    """HF tokenizers from the GGUF's own vocabulary and merges."""
    from tokenizers import AddedToken, Tokenizer, decoders, models

    ids = {}
    for i, token in enumerate(vocab["tokens"]):
        ids.setdefault(token, i)
    merges = [tuple(m.split(" ", 1)) for m in vocab["merges"]]
    tk = Tokenizer(models.BPE(vocab=ids, merges=merges,
                              ignore_merges=vocab["pre"] in ("llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral")))
    tk.pre_tokenizer = pre_tokenizer_for(vocab["pre"])
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens([AddedToken(t, special=True, normalized=False)
                           for t, ty in zip(vocab["tokens"], vocab["types"]) if ty == CONTROL])
    tk.add_tokens([AddedToken(t, special=False, normalized=False)
                   for t, ty in zip(vocab["tokens"], vocab["types"]) if ty == USER_DEFINED])
    return tk


def reference_ids(reference, text, special=True):
    reference.encode_special_tokens = not special
    try:
        return reference.encode(text, add_special_tokens=False).ids
    finally:
        reference.encode_special_tokens = False


TRICKY = [
    # whitespace
    "", " ", "  ", "   ", "\t", "\n", "\n\n\n", " \n", "\n ", "trailing   ", "   leading", "a  b", "a   b",
    "a\tb", "a\t\tb", "a\n\nb", "a \n b", "crlf\r\nline\r\n", "x  \t \n  y", "nbsp\u00a0\u00a0x", "\u3000wide",
    "\u2028sep\u2029", " " * 64, "\n" * 40,
    # digits
    "12345", "3.14159", "1,000,000", "a1b2c3", " 42", "  42", "year 2024!", "\u0661\u0662\u0663", "\u00bd \u2164",
    # contractions and case
    "don't", "I'LL", "we're", "they've", "I'm", "you'd", "it's", "'s", "''s", "O'Reilly's", "don\u2019t",
    "ALLCAPS WORDS", "MiXeD CaSe",
    # emoji
    "emoji 😀👍🏽", "👨‍👩‍👧‍👦 family", "🏳️‍🌈", "❤️", "🦙.cpp",
    # code
    "def f(x):\n    return x * 2\n\n\nclass A:\n\tpass\n",
    "#include <stdio.h>\nint main(void) {\n    printf(\"hi %d\\n\", 42);\n    return 0;\n}\n",
    "    if (a && b || !c) { x += y->z[3]; }",
    "http://example.com/path?q=1&r=2", "user@example.com", "$100 & 50%", "!!!???...",
    # scripts and accents
    "中文测试，你好世界！", "مرحبا بالعالم", "Привет, мир!", "नमस्ते दुनिया", "こんにちは世界、カタカナ", "한국어", "Ελληνικά",
    "café naïve résumé", "e\u0301 combining", "a\u0300\u0301\u0302", "\ufffd replacement", "\u200b zero width",
    "\ufeffBOM", "\U0001F1E6\U0001F1E8 flags",
    # special tokens inside text
    "<|im_start|>user\nhi<|im_end|>",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nWhat's 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "text<|endoftext|>more", "<|im_start|><|im_end|>", "<|im_start", "< |im_start|>", "<|endoftext|><|endoftext|>",
]


def random_strings(count, seed):
    rng = random.Random(seed)
    alphabet = list("abcXYZ 019'\n\r\t.,;!?-_()<>|") + [
        "é", "ß", "中", "😀", "\u0301", "\u00a0", "\u2003", "٣", "½", "<|im_end|>", "<|im_start|>", "'LL", "  "]
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(count)]


@pytest.mark.parametrize("text", TRICKY, ids=lambda t: repr(t[:24]))
def test_ids_match_hf_tokenizers_on_tricky_strings(model, reference, text):
    assert model.tokenize(text, add_bos=False, special=True) == reference_ids(reference, text)


def test_ids_match_hf_tokenizers_on_random_strings(model, reference):
    for text in random_strings(500, seed=1234):
        assert model.tokenize(text, add_bos=False, special=True) == reference_ids(reference, text), repr(text)


@pytest.mark.parametrize("text", [t for t in TRICKY if "<" in t], ids=lambda t: repr(t[:24]))
def test_control_token_text_is_plain_text_without_special(model, reference, text):
    ids = model.tokenize(text, add_bos=False, special=False)
    assert ids == reference_ids(reference, text, special=False)
    assert model.detokenize(ids, special=True) == text.encode("utf-8")


@pytest.mark.skipif(not GPL3.exists(), reason="no /usr/share/common-licenses/GPL-3")
def test_ids_match_hf_tokenizers_on_gpl3(model, reference):
    text = GPL3.read_text(encoding="utf-8")
    ids = model.tokenize(text, add_bos=False, special=True)
    assert ids == reference_ids(reference, text)
    assert model.detokenize(ids) == text.encode("utf-8")


@pytest.mark.parametrize("text", TRICKY, ids=lambda t: repr(t[:24]))
def test_detokenize_round_trips_tokenize(model, reference, text):
    ids = model.tokenize(text, add_bos=False, special=True)
    assert model.detokenize(ids, special=True) == text.encode("utf-8")
    # Without special, control tokens vanish exactly as in HF's skip_special_tokens.
    assert model.detokenize(ids, special=False) == reference.decode(ids, skip_special_tokens=True).encode("utf-8")


def test_detokenize_of_single_tokens_gives_raw_bytes_of_partial_characters(model):
    text = "😀🦙"  # byte-level BPE vocabularies split rare emoji inside their UTF-8
    ids = model.tokenize(text, add_bos=False, special=False)
    pieces = [model.detokenize([i]) for i in ids]
    assert b"".join(pieces) == text.encode("utf-8")
    assert any(_not_utf8(p) for p in pieces)
    # A sequence cut mid-character decodes to the raw prefix bytes.
    assert model.detokenize(ids[:1]) == text.encode("utf-8")[:len(pieces[0])]


def _not_utf8(data):
    try:
        data.decode("utf-8")
        return False
    except UnicodeDecodeError:
        return True


def test_add_bos_adds_nothing_when_the_model_does_not_ask_for_bos(model, vocab):
    # SmolLM2 names <|im_start|> (id 1) as BOS but sets add_bos_token = false,
    # so (as in llama.cpp's llama_tokenize) add_bos is a no-op for it.
    plain = model.tokenize("Hello", add_bos=False, special=True)
    assert model.tokenize("Hello", add_bos=True, special=True) == plain


def test_chat_renders_the_gguf_template(model, vocab):
    jinja2 = pytest.importorskip("jinja2")
    template = vocab["chat_template"]
    if not template:
        pytest.skip("model has no tokenizer.chat_template")
    messages = [{"role": "user", "content": "What is 2+2?"}]
    expected = jinja2.Environment().from_string(template).render(
        messages=messages, add_generation_prompt=True, bos_token="", eos_token="")
    assert model.chat(messages, add_generation_prompt=True) == expected

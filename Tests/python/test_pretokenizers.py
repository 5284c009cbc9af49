# test_pretokenizers.py — tokenizer.json pre_tokenizer pipelines (Sources/RTX/
# Tokenizer/PreTokenizerPipeline.swift, SplitRegex.swift) against the Hugging Face
# `tokenizers` package as the reference: for each pre_tokenizer of a catalogue of
# real-world configs (GPT-2, RoBERTa, Llama 3, Qwen 2/3, GPT-4o o200k, DeepSeek-V3,
# Falcon, Bloom, StarCoder2) and of configs exercising every Split behavior, invert,
# String patterns and the other step types, a byte-level BPE tokenizer.json is
# written into a tiny Ouro checkpoint folder (hf_models.write_ouro), loaded by RTX
# through the folder loader, and RTX's token ids must equal `tokenizers`' ids on
# every text of a few hundred random and adversarial ones.
#
# Each config runs twice:
#   - "words": model.ignore_merges with every word Hugging Face pre-tokenizes out of
#     the texts in the vocabulary, plus a merge for every pair of ASCII bytes: each
#     word becomes one token, so equal ids mean equal words (a boundary anywhere
#     else gives other ids: an unknown word is merged from bytes, and two ASCII
#     bytes always merge);
#   - "merges": the same pair merges without ignore_merges (the named patterns
#     RTX keeps for GGUF, e.g. "qwen2", take this path).
# Unsupported pre_tokenizers are refused naming the step or syntax and the file, and
# `rtx convert` keeps a named pipeline in GGUF but refuses one GGUF cannot record.
# The NFC normalizer (Qwen 2/3, Pythia, OLMo) is run and compared the same way, on
# texts with decomposed, precomposed and singleton-decomposing scalars; any other
# normalizer of a byte-level tokenizer is refused by name.
# Skipped only when `tokenizers` cannot be imported (scripts/setup.sh installs it).
import json
import random

import numpy as np  # noqa: F401  - before rtx
import pytest

tokenizers = pytest.importorskip("tokenizers")

import rtx  # noqa: E402
import hf_models  # noqa: E402
import pretokenizer_configs  # noqa: E402
from pretokenizer_configs import byte_level, seq, split  # noqa: E402

CONFIGS = pretokenizer_configs.CONFIGS

FRAGMENTS = [
    "a", "b", "The", "HELLO", "world", "don't", "I'M", "they'LL", "we've", "'S", "'s", "'t", "'Re", "'ve", "'ſ", "'K",
    "’s", "ǅemal", "ʰi", "É", "é", "ß", "ẞ", "Ω", "дом", "ğİı", "K", "Straße", "naïve", "e\u0301", "ﬆ", "Ⓐ",
    "0", "7", "12", "345", "12345678", "٣٤٥", "²", "½", "Ⅻ", "३", "1,000.50", "v2.0",
    "中文", "日本語", "かなカナ", "한국어", "العربية", "हिन्दी", "ภาษา", "🙂", "👍🏽", "👨‍👩‍👧", "🇫🇷",
    "+", "$", "^", "`", "|", "~", "<=>", "¥", "€", "©", "…", "。", "，", "、", "।", "۔", "،", "¡", "¿", "«»",
    "(x)", "[y]", "{z}", "\"q\"", "!", "?", ".", ",", ";", ":", "-", "--", "_", "/", "\\", "@", "#", "%", "&", "*",
    " ", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\r", " \n", "\u00a0", "\u3000", "\u2028", "\u000b", "\u0085",
    "\u200d", "\u200b", "\x00", "\x07",
]

ADVERSARIAL = [
    "Hello world", "  leading and trailing  ", "\n\n\nnewlines\r\n\r\nand\rcarriage", "tabs\t\tand\t spaces \t",
    "don't DON'T Don'T it'S we'LL you'Ve I'D she'ſ", "'s's't'", "''s", "x's", "12345678901234567890",
    "3.14159 and 2,718", "a1b22c333d4444", "..." * 20, "!!!???", "Ünïcödé ÀÉÎÕÜ", "ǅǈǋ Ǆ", "İstanbul ıi",
    "中文和English混合123", "emoji 🙂🙂🙂 and 👍🏽 and 👨‍👩‍👧", "\u00a0\u00a0x\u3000y", " " * 50 + "x", "x" + " " * 50,
    "a" * 300, " a" * 100, "\n" * 40, "1" * 100, "🙂" * 30, "end with space ", "end with newline\n",
    "line one\nline two\n\nline four", "camelCaseWordsAndHTTPServer", "snake_case_words", "path/to/file.txt",
    "https://example.com/a?b=c&d=e", "<html><body>x</body></html>", "x = y + z * (a - b) / c", "$100 €20 ¥3",
    "Bloom: hello, world! 你好，世界。", "a\u2028b\u2029c", "\r\n\r\n", " \r\n ", "zero\u200bwidth", "x",
]


def random_texts(count, seed=16):
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        n = rng.randint(1, 24)
        texts.append("".join(rng.choice(FRAGMENTS) for _ in range(n)))
    return texts


TEXTS = ADVERSARIAL + random_texts(300)

ASCII = [chr(c) for c in [9, 10, 13] + list(range(32, 127))]


def tokenizer_json(pre_tokenizer, words, ignore_merges, normalizer=None):
    """A byte-level BPE tokenizer.json: 256 byte tokens, a merge for every pair of
    ASCII bytes, then `words` (byte-level strings) as whole tokens."""
    byte_char = {}
    tok, _ = hf_models.byte_level_tokenizer([], [])
    for char, b in tok["model"]["vocab"].items():
        byte_char[b] = char
    vocab = dict(tok["model"]["vocab"])
    merges = []
    for a in ASCII:
        for b in ASCII:
            left, right = byte_char[ord(a)], byte_char[ord(b)]
            if left + right not in vocab:
                vocab[left + right] = len(vocab)
            merges.append([left, right])
    for w in words:
        if w not in vocab:
            vocab[w] = len(vocab)
    eot = len(vocab)
    tok["model"]["vocab"] = vocab
    tok["model"]["merges"] = merges
    tok["model"]["ignore_merges"] = ignore_merges
    tok["added_tokens"] = [{"id": eot, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                            "rstrip": False, "normalized": False, "special": True}]
    tok["pre_tokenizer"] = pre_tokenizer
    tok["normalizer"] = normalizer
    return tok


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("pretokenizers")


@pytest.mark.parametrize("mode", ["words", "merges"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_token_ids_equal_hugging_face_tokenizers(workdir, name, mode):
    pre = CONFIGS[name]
    probe = tokenizers.Tokenizer.from_str(json.dumps(tokenizer_json(pre, [], False)))
    words = set()
    if mode == "words":
        for text in TEXTS:
            words.update(w for w, _ in probe.pre_tokenizer.pre_tokenize_str(text))
    tok = tokenizer_json(pre, sorted(words), mode == "words")
    reference = tokenizers.Tokenizer.from_str(json.dumps(tok))
    folder = hf_models.write_ouro(workdir / f"{name}-{mode}", tokenizer=tok)
    wrong = []
    with rtx.Model(str(folder)) as model:
        for text in TEXTS:
            expected = reference.encode(text, add_special_tokens=False).ids
            got = model.tokenize(text)
            if got != expected:
                wrong.append((text, got, expected))
    assert not wrong, (f"{name}/{mode}: {len(wrong)} of {len(TEXTS)} texts differ; first: {wrong[0][0]!r}\n"
                       f"  rtx:        {wrong[0][1]}\n  tokenizers: {wrong[0][2]}")


REFUSED = {
    "unknown step type": ({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always"}, "Metaspace"),
    "unsupported regex syntax": (seq(split(r"(?<=a)b"), byte_level(regex=False)), "lookbehind"),
    "script property": (seq(split(r"\p{Han}+"), byte_level(regex=False)), r"\\p{Han}"),
    "backreference": (seq(split(r"(a)\1"), byte_level(regex=False)), r"escape \\1"),
    "unknown behavior": (seq(split(r"a", "Glued"), byte_level(regex=False)), "Glued"),
    "no ByteLevel step": (seq(split(r"\s+", "Removed")), "no ByteLevel"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_unsupported_pre_tokenizers_are_refused_by_name(workdir, case):
    pre, needle = REFUSED[case]
    tok = tokenizer_json(pre, [], False)
    folder = hf_models.write_ouro(workdir / ("refused-" + case.replace(" ", "-")), tokenizer=tok)
    with pytest.raises(rtx.RTXError, match=needle) as e:
        rtx.Model(str(folder))
    assert "tokenizer.json" in str(e.value)


def test_a_pipeline_without_a_gguf_name_is_refused_by_convert_and_a_named_one_is_kept(workdir):
    """GGUF records a pre-tokenizer by name (tokenizer.ggml.pre): a pipeline that
    has one converts and tokenizes the same; one that has none is refused."""
    named = hf_models.write_ouro(workdir / "convert-qwen2", tokenizer=tokenizer_json(CONFIGS["qwen2"], [], False))
    rtx.convert(named, workdir / "qwen2.gguf")
    text = ADVERSARIAL[8] + ADVERSARIAL[17]
    with rtx.Model(str(named)) as folder_model, rtx.Model(str(workdir / "qwen2.gguf")) as gguf_model:
        assert gguf_model.tokenize(text) == folder_model.tokenize(text)
    unnamed = hf_models.write_ouro(workdir / "convert-falcon", tokenizer=tokenizer_json(CONFIGS["falcon"], [], False))
    with pytest.raises(rtx.UnsupportedError, match="tokenizer.ggml.pre"):
        rtx.convert(unnamed, workdir / "falcon.gguf")


# Canonical composition's cases: decomposed letters and Hangul jamo (compose),
# singletons (Ohm, Angstrom, Kelvin signs: decompose, never recompose), composition
# exclusions, reordered combining marks, a mark with no base, and text already in NFC.
NFC_TEXTS = [
    "e\u0301", "E\u0301cole", "A\u030a\u0301", "\u212b", "\u2126 and \u212a", "\u1100\u1161\u11a8 \u1100\u1161",
    "\u0958\u0929", "a\u0323\u0302", "a\u0302\u0323", "\u0301 lonely mark", "o\u0308\u0304 and \u022b",
    "ñ vs n\u0303", "\u1e9b\u0323", "fi\ufb01 ﬆ", "Ǆ\u030c", "q\u0307\u0323", "\u0cc6\u0cc2\u0cd5",
] + TEXTS


@pytest.mark.parametrize("mode", ["words", "merges"])
def test_nfc_normalizer_equals_hugging_face_tokenizers(workdir, mode):
    pre, nfc = CONFIGS["qwen2"], {"type": "NFC"}
    probe = tokenizers.Tokenizer.from_str(json.dumps(tokenizer_json(pre, [], False, nfc)))
    words = set()
    if mode == "words":
        for text in NFC_TEXTS:
            words.update(w for w, _ in probe.pre_tokenizer.pre_tokenize_str(probe.normalizer.normalize_str(text)))
    tok = tokenizer_json(pre, sorted(words), mode == "words", nfc)
    reference = tokenizers.Tokenizer.from_str(json.dumps(tok))
    folder = hf_models.write_ouro(workdir / f"nfc-{mode}", tokenizer=tok)
    with rtx.Model(str(folder)) as model:
        wrong = [(t, model.tokenize(t), reference.encode(t, add_special_tokens=False).ids) for t in NFC_TEXTS]
    wrong = [w for w in wrong if w[1] != w[2]]
    assert not wrong, f"NFC/{mode}: {len(wrong)} of {len(NFC_TEXTS)} texts differ; first: {wrong[0]}"
    # The normalizer runs: without it the decomposed texts tokenize differently.
    plain = hf_models.write_ouro(workdir / f"no-nfc-{mode}", tokenizer=tokenizer_json(pre, sorted(words), mode == "words"))
    with rtx.Model(str(plain)) as model, rtx.Model(str(folder)) as normalizing:
        assert model.tokenize("E\u0301cole") != normalizing.tokenize("E\u0301cole")
        assert model.tokenize("École") == normalizing.tokenize("École")


REFUSED_NORMALIZERS = {
    "Lowercase": {"type": "Lowercase"},
    "NFKC": {"type": "NFKC"},
    "NFD": {"type": "NFD"},
    "Strip": {"type": "Strip", "strip_left": True, "strip_right": True},
    "Replace": {"type": "Replace", "pattern": {"String": " "}, "content": "_"},
    "Lowercase in a Sequence": {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Lowercase"}]},
}


@pytest.mark.parametrize("case", list(REFUSED_NORMALIZERS))
def test_unsupported_normalizers_are_refused_by_name(workdir, case):
    tok = tokenizer_json(CONFIGS["qwen2"], [], False, REFUSED_NORMALIZERS[case])
    folder = hf_models.write_ouro(workdir / ("normalizer-" + case.replace(" ", "-")), tokenizer=tok)
    with pytest.raises(rtx.UnsupportedError, match=f"normalizer '{case.split()[0]}'") as e:
        rtx.Model(str(folder))
    assert "tokenizer.json" in str(e.value)

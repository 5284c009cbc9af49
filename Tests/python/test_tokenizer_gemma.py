# test_tokenizer_gemma.py — the engine's SentencePiece tokenizer (through the Python
# bindings) against an independent pure-Python SentencePiece-BPE implementation
# (`SpmReference` below, reading tokens, scores and types from the GGUF with the
# `gguf` package) on the real Gemma 3 270M vocabulary: tricky strings, the GPL-3
# text, random mixtures of special tokens and text, and decode round trips.
#
#   scripts/fetch-models.sh gemma3
#   PYTHONPATH=bindings/python RTX_LIBRARY=build/lib/librtx.so \
#       python3 -m pytest Tests/python/test_tokenizer_gemma.py
#
# Model: $RTX_GEMMA3_MODEL, default .models/gemma-3-270m.Q4_K_M.gguf.
#
# The reference follows SentencePiece's BPE as llama.cpp runs it (llm_tokenizer_spm
# and tokenizer_st_partition in src/llama-vocab.cpp), written the slow, obvious way:
#   1. control/unknown (only with special=True) and user-defined (always) token
#      texts are cut out of the raw UTF-8, longest text first (ties: lower id), each
#      at its leftmost non-overlapping occurrences inside the still-raw fragments;
#   2. in each raw fragment " " becomes "▁" (plus a leading "▁" when
#      add_space_prefix and the fragment follows a special or starts the text);
#   3. the fragment starts as one symbol per character; while some adjacent pair's
#      concatenation is a token, the pair whose token has the highest score is
#      merged (the leftmost such pair on ties);
#   4. a symbol that is a token is emitted; any other symbol is emitted byte by byte
#      as <0xXX> tokens (else the one-byte token, else <unk>).

import os
import random
from pathlib import Path

import pytest

rtx = pytest.importorskip("rtx")
gguf = pytest.importorskip("gguf")

REPO = Path(__file__).resolve().parents[2]
GEMMA3 = Path(os.environ.get("RTX_GEMMA3_MODEL", REPO / ".models" / "gemma-3-270m.Q4_K_M.gguf"))
GPL3 = Path("/usr/share/common-licenses/GPL-3")

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


class SpmReference:
    """SentencePiece BPE over a GGUF 'llama' vocabulary, independent of the engine."""

    def __init__(self, path):
        reader = gguf.GGUFReader(str(path))
        fields = reader.fields

        def scalar(name, default=None):
            f = fields.get(name)
            return f.contents() if f is not None else default

        assert scalar("tokenizer.ggml.model") == "llama"
        self.tokens = [bytes(fields["tokenizer.ggml.tokens"].parts[i]) for i in fields["tokenizer.ggml.tokens"].data]
        n = len(self.tokens)
        f = fields.get("tokenizer.ggml.scores")
        self.scores = [float(f.parts[i][0]) for i in f.data] if f is not None else [0.0] * n
        f = fields.get("tokenizer.ggml.token_type")
        self.types = [int(f.parts[i][0]) for i in f.data] if f is not None else [NORMAL] * n
        assert len(self.scores) == n and len(self.types) == n
        self.bos = scalar("tokenizer.ggml.bos_token_id")
        self.eos = scalar("tokenizer.ggml.eos_token_id")
        self.unk = scalar("tokenizer.ggml.unknown_token_id")
        self.add_bos = bool(scalar("tokenizer.ggml.add_bos_token", True))
        self.add_space_prefix = bool(scalar("tokenizer.ggml.add_space_prefix", True))
        self.ids = {}
        for i, t in enumerate(self.tokens):
            self.ids[t] = i  # the last id wins, as in llama.cpp's token_to_id
        specials = [i for i, ty in enumerate(self.types) if ty in (CONTROL, USER_DEFINED, UNKNOWN)]
        self.specials = sorted(specials, key=lambda i: (-len(self.tokens[i]), i))

    # -- step 1: special tokens --------------------------------------------------
    def partition(self, data: bytes, special: bool):
        """[(is_token, bytes_or_id)] in text order."""
        fragments = [(False, data)] if data else []
        for sid in self.specials:
            if not special and self.types[sid] in (CONTROL, UNKNOWN):
                continue
            text = self.tokens[sid]
            if text not in data or not any(not is_tok and text in frag for is_tok, frag in fragments):
                continue
            out = []
            for is_tok, frag in fragments:
                if is_tok or text not in frag:
                    out.append((is_tok, frag))
                    continue
                pieces = frag.split(text)  # split() cuts leftmost non-overlapping occurrences
                for k, piece in enumerate(pieces):
                    if piece:
                        out.append((False, piece))
                    if k + 1 < len(pieces):
                        out.append((True, sid))
            fragments = out
        return fragments

    # -- steps 2-4: one raw fragment ---------------------------------------------
    def encode_fragment(self, text: bytes):
        chars = [ch.encode("utf-8") for ch in text.decode("utf-8")]
        while len(chars) > 1:
            best = None  # (score, -position)
            for k in range(len(chars) - 1):
                tid = self.ids.get(chars[k] + chars[k + 1])
                if tid is None:
                    continue
                key = (self.scores[tid], -k)
                if best is None or key > best:
                    best = key
            if best is None:
                break
            k = -best[1]
            chars[k:k + 2] = [chars[k] + chars[k + 1]]
        out = []
        for piece in chars:
            tid = self.ids.get(piece)
            if tid is not None:
                out.append(tid)
                continue
            for byte in piece:
                fallback = self.ids.get(b"<0x%02X>" % byte)
                if fallback is None:
                    fallback = self.ids.get(bytes([byte]), self.unk)
                if fallback is not None:
                    out.append(fallback)
        return out

    def encode(self, text: str, add_bos: bool = False, special: bool = False):
        ids = [self.bos] if add_bos else []
        previous_special = True
        for is_tok, frag in self.partition(text.encode("utf-8"), special):
            if is_tok:
                ids.append(frag)
                previous_special = True
                continue
            if self.add_space_prefix and previous_special:
                frag = b" " + frag
            ids += self.encode_fragment(frag.replace(b" ", "\u2581".encode("utf-8")))
            previous_special = False
        return ids

    def decode(self, ids, special: bool = False) -> bytes:
        out = b""
        for i in ids:
            ty = self.types[i]
            if ty in (CONTROL, UNKNOWN):
                out += self.tokens[i] if special else b""
            elif ty == USER_DEFINED:
                out += self.tokens[i]
            elif ty == NORMAL:
                out += self.tokens[i].replace("\u2581".encode("utf-8"), b" ")
            elif ty == BYTE:
                out += bytes([int(self.tokens[i][3:5], 16)])
        return out


TRICKY = [
    "",
    " ",
    "  ",
    "   leading spaces",
    "trailing spaces   ",
    "Hello world",
    "Hello, world! How's it going?",
    "line one\nline two\n\nline four\n\n\n\n\n",
    "\t\tdef f(x):\n\t\t\treturn x ** 2  # square\n",
    "    for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "1234567890 3.14159 1e-9 0x1F -42 +7 1,000,000",
    "naïve café résumé Ünïcödé ß ẞ",
    "日本語のテキストと漢字、カタカナ。",
    "Привет, мир! Γειά σου Κόσμε! مرحبا بالعالم שלום",
    "emoji 🙂🙃 👩‍👩‍👧‍👦 🇫🇷 ❤️ 🏳️‍🌈",
    "math ∑ ∫ √ ≤ ≥ ∞ π² x₁ → ⇒",
    "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n",
    "<bos><eos><pad><unk><mask>[multimodal]",
    "<table><tr><td>cell</td></tr></table> <b>bold</b> <code>x</code>",
    "<start_of_turn <end_of_turn > <<start_of_turn>> <unused12><unused6241>",
    "a\u00a0b\u2009c\u200bd\ufeffe",
    "\x00\x01\x07\x1b[0m control bytes \x7f",
    "   \n   \n\t \t\r\n\r\n  ",
    "https://example.com/path?q=1&r=two#frag user@example.org",
    "ALL CAPS, MiXeD cAsE, snake_case, camelCase, kebab-case",
    "'quoted' \"double\" `back` «guillemets» „low“ ‘single’",
    "\u2581 literal lower-one-eighth block ▁▁ and spaces",
]


@pytest.fixture(scope="module")
def reference():
    if not GEMMA3.is_file():
        pytest.skip(f"Gemma 3 model not found: {GEMMA3} (scripts/fetch-models.sh gemma3)")
    return SpmReference(GEMMA3)


@pytest.fixture(scope="module")
def gemma_model():
    if not GEMMA3.is_file():
        pytest.skip(f"Gemma 3 model not found: {GEMMA3} (scripts/fetch-models.sh gemma3)")
    try:
        model = rtx.Model(str(GEMMA3))
    except rtx.UnsupportedError as error:
        if "gemma3" in str(error):
            pytest.skip(f"the engine does not load the gemma3 architecture yet: {error}")
        raise
    with model:
        yield model


def test_reference_knows_gemma_chat_markup(reference):
    """Sanity of the reference itself: the chat markers are single control tokens."""
    ids = reference.encode("<start_of_turn>user\nHi<end_of_turn>\n", add_bos=True, special=True)
    pieces = [reference.tokens[i].decode() for i in ids]
    assert pieces[:4] == ["<bos>", "<start_of_turn>", "user", "\n"]
    assert pieces[-2:] == ["<end_of_turn>", "\n"]
    assert reference.decode(ids) == b"user\nHi\n"


@pytest.mark.parametrize("special", [True, False])
@pytest.mark.parametrize("text", TRICKY)
def test_tricky_strings_match_reference(gemma_model, reference, text, special):
    expected = reference.encode(text, add_bos=False, special=special)
    assert gemma_model.tokenize(text, add_bos=False, special=special) == expected


def test_bos_is_added_when_asked(gemma_model, reference):
    assert gemma_model.tokenize("Hello", add_bos=True, special=False) == reference.encode("Hello", add_bos=True)
    assert gemma_model.tokenize("", add_bos=True) == [reference.bos]


def test_gpl3_matches_reference(gemma_model, reference):
    if not GPL3.is_file():
        pytest.skip(f"{GPL3} missing")
    text = GPL3.read_text(encoding="utf-8")
    ids = gemma_model.tokenize(text, add_bos=False, special=True)
    # "\n" is a user-defined token: the reference's quadratic merge only sees lines.
    assert ids == reference.encode(text, special=True)
    assert gemma_model.detokenize(ids) == text.encode("utf-8")


def test_random_mixtures_match_reference(gemma_model, reference):
    rng = random.Random(6)
    parts = ["<start_of_turn>", "<end_of_turn>", "<bos>", "\n", "\n\n", "  ", "\t", " ", "<td>", "x", "ab",
             "Hello", "world", "12", "é", "🙂", "東京", "<unused3>", "▁", "<0x41>", "<", ">"]
    for _ in range(200):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(1, 12)))
        for special in (True, False):
            assert gemma_model.tokenize(text, special=special) == reference.encode(text, special=special), text


@pytest.mark.parametrize("text", [t for t in TRICKY if "\u2581" not in t])  # a typed "▁" decodes as " "
def test_decode_round_trips(gemma_model, text):
    ids = gemma_model.tokenize(text, add_bos=False, special=False)
    assert gemma_model.detokenize(ids) == text.encode("utf-8")

// SentencePieceTests.swift — the SentencePiece (SPM) tokenizer on a tiny hand-built
// vocabulary, plus the real Gemma 3 vocabulary read through Vocabulary(gguf:) when
// .models/ has it. Agreement with an independent Python implementation on the real
// vocabulary is checked in Tests/python/test_tokenizer_gemma.py.

import Testing
@testable import RTX

/// Control 0...3 (<pad>, <eos>, <bos>, <unk>), control <start_of_turn>/<end_of_turn>,
/// user-defined "\n" and "  " (two spaces), the 256 byte tokens, then `pieces`
/// (text, score) as normal tokens.
private func spmVocabulary(_ pieces: [(String, Float)], addSpacePrefix: Bool = false,
                           byteTokens: Bool = true) -> Vocabulary {
    var tokens = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", "\n", "  "]
    var types: [TokenType] = [.control, .control, .control, .unknown, .control, .control, .userDefined, .userDefined]
    var scores: [Float] = Array(repeating: -1000, count: tokens.count)
    if byteTokens {
        let hex = Array("0123456789ABCDEF")
        for byte in 0..<256 {
            tokens.append("<0x\(hex[byte >> 4])\(hex[byte & 15])>")
            types.append(.byte)
            scores.append(0)
        }
    }
    for (text, score) in pieces {
        tokens.append(text)
        types.append(.normal)
        scores.append(score)
    }
    return Vocabulary(model: "llama", preTokenizer: "default", tokens: tokens, tokenTypes: types, scores: scores,
                      merges: [], bos: 2, eos: 1, unknown: 3, padding: 0, endOfGeneration: [],
                      addBOS: true, addSpacePrefix: addSpacePrefix)
}

private func ids(_ tokens: [String], in vocabulary: Vocabulary) -> [Int32] {
    tokens.map { Int32(vocabulary.tokens.lastIndex(of: $0)!) }
}

private func pieces(_ ids: [Int32], in vocabulary: Vocabulary) -> [String] {
    ids.map { vocabulary.tokens[Int($0)] }
}

private let basicPieces: [(String, Float)] = [
    ("▁", -1), ("h", -2), ("e", -2), ("l", -2), ("o", -2), ("w", -2), ("r", -2), ("d", -2),
    ("he", -3), ("ll", -3), ("hell", -4), ("hello", -5), ("▁w", -6), ("or", -3), ("▁wor", -7),
    ("▁world", -8), ("ld", -5), ("▁h", -9), ("é", -2),
]

// MARK: - Merging

@Test func spmMergesTheHighestScoringPairFirst() throws {
    // "ab" beats "bc" by score whatever their order in the text.
    let abWins = spmVocabulary([("a", -1), ("b", -1), ("c", -1), ("ab", -2), ("bc", -3)])
    let bcWins = spmVocabulary([("a", -1), ("b", -1), ("c", -1), ("ab", -3), ("bc", -2)])
    #expect(pieces(try SentencePieceTokenizer(vocabulary: abWins).encode("abc", addBOS: false, parseSpecial: false),
                   in: abWins) == ["ab", "c"])
    #expect(pieces(try SentencePieceTokenizer(vocabulary: bcWins).encode("abc", addBOS: false, parseSpecial: false),
                   in: bcWins) == ["a", "bc"])
}

@Test func spmEqualScoresMergeTheLeftmostPairFirst() throws {
    let vocabulary = spmVocabulary([("a", -1), ("aa", -2)])
    let tokenizer = try SentencePieceTokenizer(vocabulary: vocabulary)
    #expect(pieces(tokenizer.encode("aaa", addBOS: false, parseSpecial: false), in: vocabulary) == ["aa", "a"])
}

@Test func spmEscapesSpacesAndBuildsWords() throws {
    let vocabulary = spmVocabulary(basicPieces)
    let tokenizer = try SentencePieceTokenizer(vocabulary: vocabulary)
    #expect(pieces(tokenizer.encode("hello world", addBOS: false, parseSpecial: false), in: vocabulary)
            == ["hello", "▁world"])
}

@Test func spmSpacePrefixGoesOnTheFirstFragmentAndAfterSpecials() throws {
    let vocabulary = spmVocabulary(basicPieces, addSpacePrefix: true)
    let tokenizer = try SentencePieceTokenizer(vocabulary: vocabulary)
    let out = tokenizer.encode("hello<end_of_turn>world", addBOS: false, parseSpecial: true)
    #expect(pieces(out, in: vocabulary) == ["▁", "hello", "<end_of_turn>", "▁world"])
}

@Test func spmBOSOnlyWhenAsked() throws {
    let vocabulary = spmVocabulary(basicPieces)
    let tokenizer = try SentencePieceTokenizer(vocabulary: vocabulary)
    #expect(tokenizer.encode("", addBOS: true, parseSpecial: false) == [2])
    #expect(tokenizer.encode("", addBOS: false, parseSpecial: false) == [])
    #expect(tokenizer.encode("he", addBOS: true, parseSpecial: false).first == 2)
}

// MARK: - Byte fallback and unknown

@Test func spmUnknownCharactersFallBackToByteTokens() throws {
    let vocabulary = spmVocabulary(basicPieces)
    let tokenizer = try SentencePieceTokenizer(vocabulary: vocabulary)
    // "ß" (C3 9F) is not a token; "é" is.
    #expect(pieces(tokenizer.encode("ßé", addBOS: false, parseSpecial: false), in: vocabulary)
            == ["<0xC3>", "<0x9F>", "é"])
    #expect(tokenizer.decode(tokenizer.encode("ßé", addBOS: false, parseSpecial: false)) == Array("ßé".utf8))
}

@Test func spmWithoutByteTokensUsesTheUnknownToken() throws {
    let vocabulary = spmVocabulary(basicPieces, byteTokens: false)
    let tokenizer = try SentencePieceTokenizer(vocabulary: vocabulary)
    #expect(tokenizer.encode("ß", addBOS: false, parseSpecial: false) == [3, 3])
}

// MARK: - Special tokens

@Test func spmControlTokensNeedParseSpecialUserDefinedDoNot() throws {
    let vocabulary = spmVocabulary(basicPieces + [("<", -1), ("_", -1), ("t", -1), ("n", -1), (">", -1), ("f", -1),
                                                  ("s", -1), ("a", -1), ("u", -1)])
    let tokenizer = try SentencePieceTokenizer(vocabulary: vocabulary)
    let parsed = tokenizer.encode("<start_of_turn>he\nhe", addBOS: false, parseSpecial: true)
    #expect(pieces(parsed, in: vocabulary) == ["<start_of_turn>", "he", "\n", "he"])
    let literal = tokenizer.encode("<start_of_turn>he\nhe", addBOS: false, parseSpecial: false)
    #expect(!literal.contains(4))
    #expect(literal.contains(6))  // "\n" is user-defined: always cut out
    #expect(tokenizer.decode(literal) == Array("<start_of_turn>he\nhe".utf8))
}

@Test func spmUserDefinedRawSpacesAreCutBeforeEscaping() throws {
    let vocabulary = spmVocabulary(basicPieces)
    let tokenizer = try SentencePieceTokenizer(vocabulary: vocabulary)
    // "  " (two raw spaces) is user-defined token 7; a single space becomes "▁", and
    // "he" (score -3) is merged before "▁h" (-9) could be.
    #expect(pieces(tokenizer.encode("he  he he", addBOS: false, parseSpecial: false), in: vocabulary)
            == ["he", "  ", "he", "▁", "he"])
}

@Test func spmLongerSpecialsAreCutFirst() {
    // llama.cpp takes the longest special first even when a shorter one starts earlier.
    let partitioner = SpecialTokenPartitioner(tokens: ["ab", "bcd", "x"], types: [.userDefined, .userDefined, .normal])
    let out = partitioner.partition(Array("abcd".utf8), parseSpecial: false)
    #expect(out == [.text(0..<1), .special(1)])
    let twice = partitioner.partition(Array("ab-ab".utf8), parseSpecial: false)
    #expect(twice == [.special(0), .text(2..<3), .special(0)])
}

// MARK: - Decoding

@Test func spmDecodeUndoesEscapesAndHidesControlTokens() throws {
    let vocabulary = spmVocabulary(basicPieces)
    let tokenizer = try SentencePieceTokenizer(vocabulary: vocabulary)
    let text = "hello world  he\n"
    let encoded = tokenizer.encode("<bos>" + text + "<eos>", addBOS: false, parseSpecial: true)
    #expect(encoded.first == 2 && encoded.last == 1)
    #expect(tokenizer.decode(encoded) == Array(text.utf8))
    #expect(tokenizer.decode(encoded, renderSpecial: true) == Array(("<bos>" + text + "<eos>").utf8))
}

@Test func spmEndOfTurnEndsGeneration() throws {
    let tokenizer = try SentencePieceTokenizer(vocabulary: spmVocabulary(basicPieces))
    #expect(tokenizer.isEndOfGeneration(1))
    #expect(tokenizer.isEndOfGeneration(5))
    #expect(!tokenizer.isEndOfGeneration(4))
}

// MARK: - Validation

private func spmError(_ vocabulary: Vocabulary) -> String? {
    do {
        _ = try SentencePieceTokenizer(vocabulary: vocabulary)
        return nil
    } catch let error as RTXError {
        return error.code == .format ? error.message : "wrong code \(error.code)"
    } catch {
        return "\(error)"
    }
}

@Test func spmRejectsMalformedVocabularies() {
    var badByte = spmVocabulary(basicPieces)
    badByte.tokens[8] = "<0xZZ>"
    #expect(spmError(badByte)?.contains("byte token 8") == true)

    var badScores = spmVocabulary(basicPieces)
    badScores.scores.removeLast()
    #expect(spmError(badScores)?.contains("scores") == true)

    var nanScore = spmVocabulary(basicPieces)
    nanScore.scores[270] = .nan
    #expect(spmError(nanScore)?.contains("NaN") == true)

    var badTypes = spmVocabulary(basicPieces)
    badTypes.tokenTypes.removeLast()
    #expect(spmError(badTypes)?.contains("token types") == true)

    var badBOS = spmVocabulary(basicPieces)
    badBOS.bos = Int32(badBOS.tokens.count)
    #expect(spmError(badBOS)?.contains("bos token id") == true)

    var nul = spmVocabulary(basicPieces)
    nul.tokens[270] = "a\u{0}b"
    #expect(spmError(nul)?.contains("NUL") == true)

    let empty = Vocabulary(model: "llama", preTokenizer: "default", tokens: [], tokenTypes: [], scores: [],
                           merges: [], bos: nil, eos: nil, unknown: nil, padding: nil, endOfGeneration: [],
                           addBOS: false, addSpacePrefix: false)
    #expect(spmError(empty) != nil)
}

@Test func makeTokenizerPicksSentencePieceForLlamaVocabularies() throws {
    #expect(try makeTokenizer(spmVocabulary(basicPieces)) is SentencePieceTokenizer)
}

// MARK: - The real Gemma 3 vocabulary

private let gemmaPath = "\(repoRoot)/.models/gemma-3-270m.Q4_K_M.gguf"

private var repoRoot: String {
    // #filePath is <repo>/Tests/RTXTests/SentencePieceTests.swift
    var parts = String(#filePath).split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
}

private func gemmaTokenizer() throws -> SentencePieceTokenizer? {
    guard let file = try? MappedFile(path: gemmaPath) else {
        withKnownIssue("Gemma 3 GGUF not fetched (scripts/fetch-models.sh gemma3): \(gemmaPath)") {
            throw RTXError.invalid("missing \(gemmaPath)")
        }
        return nil
    }
    let vocabulary = try Vocabulary(gguf: GGUFFile(file: file))
    return try #require(try makeTokenizer(vocabulary) as? SentencePieceTokenizer)
}

@Test func gemmaVocabularyReadsFromGGUF() throws {
    guard let tokenizer = try gemmaTokenizer() else { return }
    let v = tokenizer.vocabulary
    #expect(v.model == "llama")
    #expect(v.tokens.count == 262_144)
    #expect(v.bos == 2 && v.eos == 1 && v.unknown == 3 && v.padding == 0)
    #expect(v.addBOS && !v.addSpacePrefix)
    #expect(v.endOfGeneration.contains(106))  // <end_of_turn>
    #expect(tokenizer.isEndOfGeneration(1))
}

@Test func gemmaTokenizesKnownStrings() throws {
    guard let tokenizer = try gemmaTokenizer() else { return }
    let v = tokenizer.vocabulary
    // Ids that llama.cpp (llama-tokenize) gives for this vocabulary.
    let chat = tokenizer.encode("<start_of_turn>user\nHello<end_of_turn>\n", addBOS: true, parseSpecial: true)
    #expect(pieces(chat, in: v) == ["<bos>", "<start_of_turn>", "user", "\n", "Hello", "<end_of_turn>", "\n"])
    let words = tokenizer.encode("Hello world", addBOS: false, parseSpecial: false)
    #expect(pieces(words, in: v) == ["Hello", "▁world"])
    for text in ["  indented\tcode()  \n\n", "naïve café 東京 🙂 ∑x²", "<end_of_turn> literal", "12345.678"] {
        let encoded = tokenizer.encode(text, addBOS: false, parseSpecial: false)
        #expect(tokenizer.decode(encoded) == Array(text.utf8), "round trip of \(text)")
    }
}

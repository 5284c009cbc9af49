// VocabVectorTests.swift — llama.cpp's tokenizer test vectors: each
// models/ggml-vocab-*.gguf with its .inp (texts) and .out (the ids Hugging Face
// tokenizers give them). scripts/fetch-vocab-vectors.sh puts them in
// .cache/llama-vocab (or RTX_VOCAB_DIR); without them the test has nothing to run.
// A vocabulary RTX accepts must match every case; one it refuses must be refused
// with an error naming what it lacks (the tokenizer model or pre-tokenizer type).
import Foundation
import Testing
@testable import RTX

@Suite struct VocabVectorTests {
    static let folder: String = {
        if let dir = ProcessInfo.processInfo.environment["RTX_VOCAB_DIR"], !dir.isEmpty { return dir }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".cache/llama-vocab").path
    }()

    /// Vocabularies with test vectors, by file name.
    static let vocabularies: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { $0.hasPrefix("ggml-vocab-") && $0.hasSuffix(".gguf") && names.contains($0 + ".out") }.sorted()
    }()

    /// The cases of one vocabulary: (text, expected ids), as llama.cpp's test-tokenizer-0 reads them.
    static func cases(_ name: String) throws -> [(String, [Int32])] {
        let base = (folder as NSString).appendingPathComponent(name)
        let inputs = try String(contentsOfFile: base + ".inp", encoding: .utf8).components(separatedBy: "\n__ggml_vocab_test__\n")
        let outputs = try String(contentsOfFile: base + ".out", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        var cases: [(String, [Int32])] = []
        for (i, text) in inputs.enumerated() where i < outputs.count {
            let ids = outputs[i].split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
            cases.append((text, ids))
        }
        return cases
    }

    @Test(.enabled(if: !vocabularies.isEmpty, "no vectors: run scripts/fetch-vocab-vectors.sh"), arguments: vocabularies)
    func everyAcceptedVocabularyMatchesEveryCase(_ name: String) throws {
        let path = (Self.folder as NSString).appendingPathComponent(name)
        let tokenizer: any Tokenizer
        do {
            tokenizer = try makeTokenizer(Vocabulary(gguf: GGUFFile(path: path)))
        } catch let e as RTXError {
            // Refused: the message must name the unsupported model or pre-tokenizer.
            #expect(e.code == .unsupported, "\(name): \(e.message)")
            #expect(e.message.contains("'"), "\(name): the refusal names what is unsupported: \(e.message)")
            print("\(name): refused: \(e.message)")
            return
        }
        let cases = try Self.cases(name)
        #expect(!cases.isEmpty)
        var failures = 0
        for (text, expected) in cases {
            let got = tokenizer.encode(text, addBOS: false, parseSpecial: false)
            if got != expected {
                failures += 1
                Issue.record("\(name): \(text.debugDescription) → \(got), expected \(expected)")
            }
        }
        print("\(name): \(cases.count - failures) of \(cases.count) cases match")
    }
}

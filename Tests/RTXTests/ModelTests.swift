// ModelTests.swift — what Model offers every front end: the one token-range
// check, and stored tensors dequantized in file order (rtx_model_tensor_f32).
@testable import RTX
import Testing

@Suite struct ModelTests {
    @Test func checkTokensRejectsTheFirstIdOutsideTheVocabulary() throws {
        let model = try Model(path: try TinyLlama().write("check-tokens"))
        try model.checkTokens([0, Int32(model.vocabularySize - 1)])
        for bad: Int32 in [-1, Int32(model.vocabularySize), Int32.max] {
            let e = try #require(throws: RTXError.self) { try model.checkTokens([0, bad, -5], what: "prompt token") }
            #expect(e.code == .tokenOutOfRange)
            #expect(e.message.contains("prompt token #1 has id \(bad)"), "\(e.message)")
        }
    }

    @Test func storedTensorsDequantizeInFileOrder() throws {
        let model = try Model(path: try TinyLlama(weightType: .q8_0).write("stored-tensor"))
        let t = try model.storedTensor(named: "blk.0.attn_q.weight")
        #expect(t.type == .q8_0)
        var out = [Float](repeating: .nan, count: t.elementCount)
        out.withUnsafeMutableBufferPointer { model.dequantize(t, into: $0.baseAddress!) }
        #expect(out == model.weights.layers[0][linear: .attnQ].dequantized())
        let e = try #require(throws: RTXError.self) { try model.storedTensor(named: "no.such.tensor") }
        #expect(e.code == .invalidArgument)
    }
}

// GGUFTests.swift — the GGUF reader and writer: round trip, and rejection of
// truncated or corrupt files with a format error (never a crash).
import Testing
@testable import RTX

@Suite struct GGUFTests {
    @Test func writerOutputReadsBackWithSameMetadataAndTensors() throws {
        let path = try TinyLlama(layers: 2, weightType: .q8_0).write("roundtrip")
        let f = try GGUFFile(path: path)
        #expect(f.version == 3)
        #expect(try f.string("general.architecture") == "llama")
        #expect(try f.int("llama.block_count") == 2)
        #expect(f.tensors.count == 2 + 2 * 9)  // embedding, output norm, 9 per layer (tied head)
        let q = try #require(f.tensor("blk.1.attn_q.weight"))
        #expect(q.type == .q8_0)
        #expect(q.dims == [64, 64])
        #expect(q.offset % f.alignment == 0)
    }

    @Test func everyTruncationIsAFormatError() throws {
        let bytes = try TinyLlama(layers: 1, embedding: 32, heads: 2, kvHeads: 1, ffn: 32).makeWriter().serialize()
        let cuts = [0, 3, 4, 8, 16, 23, 24, 40, 100, 1000, bytes.count / 3, bytes.count / 2, bytes.count - 1]
        for cut in cuts {
            let path = temporaryPath("cut-\(cut).gguf")
            try writeBytes(Array(bytes.prefix(cut)), to: path)
            #expect(throws: RTXError.self, "truncated at \(cut)") { _ = try Model(path: path) }
            do { _ = try Model(path: path) } catch let e as RTXError {
                #expect(e.code == .format, "cut \(cut): \(e.message)")
            }
        }
    }

    @Test func badMagicAndVersionAreRejectedWithClearMessages() throws {
        var bytes = try TinyLlama(layers: 1).makeWriter().serialize()
        bytes[0] = 0x58
        let p1 = temporaryPath("magic.gguf")
        try writeBytes(bytes, to: p1)
        let e1 = try #require(throws: RTXError.self) { _ = try GGUFFile(path: p1) }
        #expect(e1.message.contains("not a GGUF file"))
        bytes[0] = 0x47
        bytes[4] = 2
        let p2 = temporaryPath("v2.gguf")
        try writeBytes(bytes, to: p2)
        let e2 = try #require(throws: RTXError.self) { _ = try GGUFFile(path: p2) }
        #expect(e2.code == .unsupported)
    }

    /// Numeric arrays stay as the file's bytes: reading a large one allocates no
    /// value per element, and every element type round-trips through the writer.
    @Test func numericArraysAreKeptAsTheFilesBytesAndRoundTrip() throws {
        var w = try TinyLlama(layers: 1).makeWriter()
        let blob = (0..<(1 << 20)).map { GGUFValue.uint8(UInt8(truncatingIfNeeded: $0 &* 31)) }
        w.set("general.blob", .array(.uint8, blob))
        let samples: [(GGUFValueType, [GGUFValue])] = [
            (.int8, [.int8(-128), .int8(127)]), (.uint16, [.uint16(65535)]), (.int16, [.int16(-2)]),
            (.uint32, [.uint32(.max)]), (.int32, [.int32(.min)]), (.float32, [.float32(-0.5), .float32(3)]),
            (.bool, [.bool(true), .bool(false)]), (.uint64, [.uint64(.max)]), (.int64, [.int64(.min)]),
            (.float64, [.float64(1e300)]), (.string, [.string("a"), .string("ünï")]),
        ]
        for (t, items) in samples { w.set("test.\(t)", .array(t, items)) }
        let path = temporaryPath("arrays.gguf")
        try w.write(to: path)
        let f = try GGUFFile(path: path)
        let a = try #require(f.metadata["general.blob"]?.arrayValue)
        #expect(a.count == 1 << 20 && a[12345] == .uint8(UInt8(truncatingIfNeeded: 12345 &* 31)))
        let inMap = a.withBytes { $0.baseAddress! >= f.file.base && $0.baseAddress! + $0.count <= f.file.base + f.file.size }
        #expect(inMap, "a numeric array is a slice of the file's map")
        for (t, items) in samples {
            #expect(f.metadata["test.\(t)"] == .array(t, items), "\(t)")
        }
        #expect(try f.intArray("test.i32") == [Int(Int32.min)])
        #expect(throws: RTXError.self, "a u64 above Int.max is refused") { _ = try f.intArray("test.u64") }
        #expect(throws: RTXError.self, "bools are not integers") { _ = try f.intArray("test.bool") }
    }

    @Test func missingFileIsAnIOError() {
        let e = #expect(throws: RTXError.self) { _ = try GGUFFile(path: "/nonexistent/model.gguf") }
        #expect(e?.code == .io)
    }
}

func writeBytes(_ bytes: [UInt8], to path: String) throws {
    guard let f = fopen(path, "wb") else { throw RTXError(.io, "cannot write \(path)") }
    _ = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, f) }
    fclose(f)
}

#if canImport(Glibc)
import Glibc
#endif

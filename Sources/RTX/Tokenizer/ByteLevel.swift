// ByteLevel.swift — GPT-2's reversible byte ↔ character mapping: byte-level BPE
// vocabularies spell every byte as one printable character (space → "Ġ", "\n" → "Ċ").

enum ByteLevel {
    /// The character that spells each byte: printable Latin-1 bytes spell themselves
    /// (0x21...0x7E, 0xA1...0xAC, 0xAE...0xFF); the other 68 take U+0100, U+0101, ...
    /// in byte order.
    static let characterOfByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var nextUnprintable: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                table[byte] = Unicode.Scalar(nextUnprintable)!
                nextUnprintable += 1
            }
        }
        return table
    }()

    /// The inverse: byte of each character U+0000...U+0143, or -1 where none.
    static let byteOfCharacter: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (byte, scalar) in characterOfByte.enumerated() { table[Int(scalar.value)] = Int16(byte) }
        return table
    }()

    /// Bytes spelled by a byte-level token text. A character outside the mapping
    /// (not produced by the mapping, so a hand-written token) stands for its own UTF-8,
    /// as HF's ByteLevel decoder does.
    static func decode(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            let v = Int(scalar.value)
            if v < byteOfCharacter.count, byteOfCharacter[v] >= 0 {
                out.append(UInt8(byteOfCharacter[v]))
            } else {
                out.append(contentsOf: String(scalar).utf8)
            }
        }
        return out
    }
}

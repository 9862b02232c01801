import Foundation

/// The character set of a text column, from its collation id: how its bytes become a string.
public enum MySQLCharset: Sendable, Hashable {
    case utf8
    /// MySQL's latin1 is Windows-1252.
    case latin1
    case ascii
    case binary
    case ucs2
    case utf16
    case utf16le
    case utf32
    /// Another character set Foundation can decode.
    case foundation(UInt)
    /// Not known (no charset metadata and no catalog information): UTF-8 when valid, else bytes.
    case unknown

    /// The character set of a MySQL/MariaDB collation id.
    public init(collation id: Int) {
        switch id {
        case 63: self = .binary
        case 5, 8, 15, 31, 47, 48, 49, 94: self = .latin1
        case 11, 65: self = .ascii
        case 33, 76, 83, 192...215, 223, 45, 46, 224...247, 255...323: self = .utf8
        case 35, 90, 128...151, 159: self = .ucs2
        case 54, 55, 101...124: self = .utf16
        case 56, 62: self = .utf16le
        case 60, 61, 160...183: self = .utf32
        case 576...607, 608...639: self = .utf8  // MariaDB utf8mb3/utf8mb4 extra collations
        case 640...671: self = .ucs2
        case 672...735: self = .utf16
        case 736...767: self = .utf32
        case 1024...2047: self = MySQLCharset(collation: id - 1024)  // MariaDB NOPAD variants
        case 2048...2559: self = .utf8  // MariaDB UCA 14.0.0 utf8mb3/utf8mb4
        case 2560...2815: self = .ucs2
        case 2816...3071: self = .utf16
        case 3072...3327: self = .utf32
        case 9, 21, 27, 77: self = .foundation(String.Encoding.isoLatin2.rawValue)
        case 26, 34, 44, 66, 99: self = .foundation(String.Encoding.windowsCP1250.rawValue)
        case 14, 23, 50, 51, 52: self = .foundation(String.Encoding.windowsCP1251.rawValue)
        case 13, 88: self = .foundation(String.Encoding.shiftJIS.rawValue)
        case 12, 91: self = .foundation(String.Encoding.japaneseEUC.rawValue)
        default: self = .unknown
        }
    }

    /// The charset of a character-set name as information_schema reports it.
    public init(name: String) {
        switch name.lowercased() {
        case "utf8", "utf8mb3", "utf8mb4": self = .utf8
        case "latin1": self = .latin1
        case "ascii": self = .ascii
        case "binary": self = .binary
        case "ucs2": self = .ucs2
        case "utf16": self = .utf16
        case "utf16le": self = .utf16le
        case "utf32": self = .utf32
        case "latin2": self = .foundation(String.Encoding.isoLatin2.rawValue)
        case "cp1250": self = .foundation(String.Encoding.windowsCP1250.rawValue)
        case "cp1251": self = .foundation(String.Encoding.windowsCP1251.rawValue)
        case "sjis": self = .foundation(String.Encoding.shiftJIS.rawValue)
        case "ujis": self = .foundation(String.Encoding.japaneseEUC.rawValue)
        default: self = .unknown
        }
    }

    /// Decodes bytes of this charset; nil for binary (keep the bytes) or bytes that are not valid text.
    func decode(_ bytes: ArraySlice<UInt8>) -> String? {
        switch self {
        case .binary:
            return nil
        case .utf8, .ascii, .unknown:
            return bytes.withUnsafeBufferPointer { buffer in
                // ASCII, the usual text, is valid UTF-8 as it is; the others are validated.
                if buffer.allSatisfy({ $0 < 0x80 }) { return String(decoding: buffer, as: UTF8.self) }
                return String(validating: buffer, as: UTF8.self)
            }
        case .latin1:
            if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
            return String(data: Data(bytes), encoding: .windowsCP1252)
        case .ucs2, .utf16:
            return String(data: Data(bytes), encoding: .utf16BigEndian)
        case .utf16le:
            return String(data: Data(bytes), encoding: .utf16LittleEndian)
        case .utf32:
            return String(data: Data(bytes), encoding: .utf32BigEndian)
        case .foundation(let raw):
            return String(data: Data(bytes), encoding: String.Encoding(rawValue: raw))
        }
    }
}

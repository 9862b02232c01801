import Crypto
import Foundation
import SluiceCore

/// Where the next page starts: an offset, or the last key of a state scan.
struct Cursor {
    var stream: String
    var offset: Int64
    var key: [UInt8]?
}

/// Page sizes and cursors of the paging tools.
///
/// Cursors are sealed with a key that lives only in this process, so a cursor neither reveals key values (which may
/// be masked for the caller) nor can be forged; cursors from before a restart are refused.
struct Paging: Sendable {
    /// Results per page when the call gives no `limit`.
    static let defaultPageSize = 100

    /// Random per process.
    private let keyBytes: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    init() {
        keyBytes = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
    }

    /// The page size: the requested one (default `defaultPageSize`), at most the principal's rows per call.
    static func limit(_ requested: Int64?, principal: Principal) -> Int {
        Int(min(requested ?? Int64(defaultPageSize), Int64(principal.limits.maxRowsPerCall)))
    }

    /// The cursor as text for `next_cursor`.
    func seal(_ cursor: Cursor) -> String {
        var plain = "\(cursor.offset):\(cursor.stream)"
        if let key = cursor.key { plain = "k" + HexBytes.encode(key) + ":" + cursor.stream }
        let sealed = (try? ChaChaPoly.seal(Array(plain.utf8), using: key).combined) ?? Data()
        return sealed.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }

    /// The cursor a `seal` of this process returned for the stream; refuses anything else.
    func open(_ text: String, stream: String) throws -> Cursor {
        let base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        guard let data = Data(base64Encoded: base64), let box = try? ChaChaPoly.SealedBox(combined: data),
            let opened = try? ChaChaPoly.open(box, using: key),
            let plain = String(data: opened, encoding: .utf8),
            let colon = plain.firstIndex(of: ":"), String(plain[plain.index(after: colon)...]) == stream
        else {
            throw ToolError(
                "the cursor is not one this server returned for stream '\(stream)' "
                    + "(cursors do not survive a restart; start again from next_offset)")
        }
        let head = plain[..<colon]
        if head.hasPrefix("k"), let key = HexBytes.decode(String(head.dropFirst())) {
            return Cursor(stream: stream, offset: 0, key: key)
        }
        guard let offset = Int64(head), offset >= 0 else { throw ToolError("the cursor is damaged") }
        return Cursor(stream: stream, offset: offset, key: nil)
    }
}

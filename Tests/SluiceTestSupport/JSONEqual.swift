import Foundation

/// Whether two decoded-JSON values (strings, numbers, NSNull, arrays of them) are equal.
public func jsonEqual(_ lhs: Any?, _ rhs: Any?) -> Bool {
    switch (lhs, rhs) {
    case (nil, nil): return true
    case (is NSNull, is NSNull): return true
    case (let a as String, let b as String): return a == b
    case (let a as [Any], let b as [Any]):
        return a.count == b.count && zip(a, b).allSatisfy { jsonEqual($0, $1) }
    case (let a as NSNumber, let b as NSNumber): return a == b
    default: return false
    }
}

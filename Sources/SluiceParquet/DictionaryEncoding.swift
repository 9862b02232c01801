// What the dictionary encoders of `ColumnValueEncoders.swift` share: the hash table from values to dictionary
// indexes, the page buffer, and the byte-string hash.

/// One slot of an open-addressing hash table from a value's identity (or hash) to its dictionary index.
struct DictionarySlot {
    var key: UInt64
    /// Dictionary index + 1; 0 marks an empty slot.
    var indexPlusOne: Int32
}

/// Fibonacci hashing of a 64-bit key to a table of 2^(64 - shift) slots.
@inline(__always)
func slotIndex(for key: UInt64, shift: UInt64) -> Int {
    Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
}

/// The open-addressing table (linear probing) from dictionary keys to dictionary indexes that the dictionary
/// encoders share; it grows to stay at most half full.
struct DictionarySlotTable {
    private var slots: [DictionarySlot] = []
    private var shift: UInt64 = 64

    /// An empty table of `capacity` (a power of two) slots.
    init(capacity: Int) {
        slots = [DictionarySlot](repeating: DictionarySlot(key: 0, indexPlusOne: 0), count: capacity)
        shift = UInt64(64 - capacity.trailingZeroBitCount)
    }

    /// No table (the encoder fell back to PLAIN).
    init() {}

    /// The index of the entry under `key` for which `isEntry(index)` holds, else nil and the empty slot for it.
    @inline(__always)
    func find(_ key: UInt64, isEntry: (Int) -> Bool) -> (index: Int?, emptySlot: Int) {
        let mask = slots.count - 1
        var slot = slotIndex(for: key, shift: shift)
        while true {
            let entry = slots[slot]
            if entry.indexPlusOne == 0 {
                return (nil, slot)
            }
            if entry.key == key, isEntry(Int(entry.indexPlusOne - 1)) {
                return (Int(entry.indexPlusOne - 1), slot)
            }
            slot = (slot + 1) & mask
        }
    }

    /// Stores dictionary index `index` under `key` in `slot` (the empty slot `find` returned).
    @inline(__always)
    mutating func insert(key: UInt64, index: Int, at slot: Int) {
        slots[slot] = DictionarySlot(key: key, indexPlusOne: Int32(index + 1))
        if (index + 1) * 2 > slots.count {
            grow()
        }
    }

    private mutating func grow() {
        var grown = DictionarySlotTable(capacity: slots.count * 2)
        let mask = grown.slots.count - 1
        for entry in slots where entry.indexPlusOne != 0 {
            var slot = slotIndex(for: entry.key, shift: grown.shift)
            while grown.slots[slot].indexPlusOne != 0 {
                slot = (slot + 1) & mask
            }
            grown.slots[slot] = entry
        }
        self = grown
    }
}

/// A page of a dictionary-encoded column as the encoders buffer it: dictionary indexes while the dictionary is in
/// use, PLAIN bytes after the fallback; and the chunk's table from values to dictionary indexes.
struct DictionaryPage {
    private(set) var usesDictionary: Bool
    var table: DictionarySlotTable
    var indexes: [UInt32] = []
    var plain: [UInt8] = []
    /// Whether a page of this chunk was written with the dictionary (so the chunk needs its dictionary page).
    private(set) var dictionaryPagesWritten = false

    init(usesDictionary: Bool) {
        self.usesDictionary = usesDictionary
        table = usesDictionary ? DictionarySlotTable(capacity: 1024) : DictionarySlotTable()
    }

    /// Whether a dictionary page of `dictionaryPageBytes` is over `limit` (time to fall back to PLAIN).
    func isDictionaryFull(dictionaryPageBytes: Int, limit: Int) -> Bool {
        usesDictionary && dictionaryPageBytes > limit
    }

    /// Values from now on go PLAIN; the dictionary keeps what the chunk's earlier pages refer to.
    mutating func fallBackToPlain() {
        usesDictionary = false
        table = DictionarySlotTable()
    }

    /// What the buffered page will take encoded, with a dictionary of `dictionaryCount` entries.
    func estimatedBytes(dictionaryCount: Int) -> Int {
        guard usesDictionary else { return plain.count }
        return indexes.count * Self.indexBitWidth(dictionaryCount) / 8 + 1
    }

    /// Encodes the buffered page into `output` and empties the buffer.
    mutating func encode(into output: inout [UInt8], dictionaryCount: Int) -> ParquetFormat.Encoding {
        if usesDictionary || !indexes.isEmpty {
            let bitWidth = Self.indexBitWidth(dictionaryCount)
            output.append(UInt8(bitWidth))
            indexes.withUnsafeBufferPointer {
                RLEBitPackedHybrid.encode($0, bitWidth: bitWidth, into: &output)
            }
            indexes.removeAll(keepingCapacity: true)
            dictionaryPagesWritten = true
            return .rleDictionary
        }
        output.append(contentsOf: plain)
        plain.removeAll(keepingCapacity: true)
        return .plain
    }

    /// Empties the buffer for the next column chunk.
    mutating func reset(usesDictionary: Bool) {
        self.usesDictionary = usesDictionary
        table = usesDictionary ? DictionarySlotTable(capacity: 1024) : DictionarySlotTable()
        indexes.removeAll(keepingCapacity: true)
        plain.removeAll(keepingCapacity: true)
        dictionaryPagesWritten = false
    }

    private static func indexBitWidth(_ dictionaryCount: Int) -> Int {
        max(1, RLEBitPackedHybrid.bitWidth(forMaximum: UInt32(max(dictionaryCount, 1) - 1)))
    }
}

/// A fast non-cryptographic hash of a byte string (8 bytes per step, multiply-xorshift mixing).
@inline(__always)
func hashBytes(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var hash: UInt64 = 0x243F_6A88_85A3_08D3 ^ UInt64(bytes.count)
    var offset = 0
    let count = bytes.count
    while offset + 8 <= count {
        let word = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
        hash = (hash ^ word) &* 0x9FB2_1C65_1E98_DF25
        hash ^= hash >> 29
        offset += 8
    }
    if offset < count {
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while offset < count {
            tail |= UInt64(bytes[offset]) << shift
            shift += 8
            offset += 1
        }
        hash = (hash ^ tail) &* 0x9FB2_1C65_1E98_DF25
        hash ^= hash >> 29
    }
    hash = (hash ^ (hash >> 32)) &* 0xD6E8_FEB8_6659_FD93
    return hash ^ (hash >> 32)
}

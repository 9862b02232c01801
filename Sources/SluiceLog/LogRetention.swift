import Foundation
import SluiceCore
import SluiceSQLite

/// Retention on the writer's thread: drop records by age, size or count, or compact a stream to the last change per
/// key, each stream in its own transaction.
extension LogCommitter {
    /// Applies `policy` to each stream in its own transaction (appends interleave between streams).
    func applyRetention(_ policy: RetentionPolicy, to names: [String]?) throws -> Int64 {
        let now = wallClockMicros()
        var removed: Int64 = 0
        for name in names ?? streams.keys.sorted() {
            guard var state = streams[name] else { continue }
            try statements.begin.run(while: "starting retention of stream \(name)")
            do {
                removed += try applyRetention(policy, to: &state, named: name, now: now)
                try updateStreamRow(state, named: name)
                try statements.commit.run(while: "committing retention of stream \(name)")
            } catch {
                if connection.isInTransaction {
                    try? statements.rollback.run(while: "rolling back retention of stream \(name)")
                }
                throw error
            }
            streams[name] = state
        }
        return removed
    }

    fileprivate func applyRetention(
        _ policy: RetentionPolicy, to state: inout StreamState, named name: String, now: Int64
    ) throws -> Int64 {
        var removed: Int64 = 0
        let keepFrom = policy.keepFrom[name] ?? Int64.max
        if policy.compactByKey {
            removed += try compactByKey(&state, named: name, keepingFrom: keepFrom)
        }
        if let maxAgeSeconds = policy.maxAgeSeconds {
            let select = statements.selectFirstAppendedSince
            try select.bind(state.id, at: 1)
            try select.bind(now - maxAgeSeconds * 1_000_000, at: 2)
            let boundary = try select.step() ? select.int64(at: 0) : state.nextOffset
            select.reset()
            removed += try removeRecords(before: min(boundary, keepFrom), from: &state, named: name)
        }
        if let maxBytes = policy.maxBytes, state.payloadBytes > maxBytes {
            let boundary = try sizeBoundary(of: state, named: name, maxBytes: maxBytes)
            removed += try removeRecords(before: min(boundary, keepFrom), from: &state, named: name)
        }
        let selectFirst = statements.selectFirstOffset
        try selectFirst.bind(state.id, at: 1)
        defer { selectFirst.reset() }
        state.firstOffset = try selectFirst.step() ? selectFirst.int64(at: 0) : state.nextOffset
        return removed
    }

    /// Keeps only the newest record per key (records without a key stay), rewriting the chunks that lose records.
    ///
    /// Three passes over the stream's chunks: find each key's newest offset, find the chunks holding older
    /// records, rewrite those (offsets stay; the rewritten chunks have gaps).
    fileprivate func compactByKey(_ state: inout StreamState, named name: String, keepingFrom keepFrom: Int64) throws
        -> Int64
    {
        var newestOffsets: [[UInt8]: Int64] = [:]
        try forEachRecord(ofStream: state.id, named: name) { _, record in
            if let key = record.key {
                newestOffsets[makeByteArray(key)] = record.offset
            }
            return true
        }
        var chunksToRewrite: [Int64] = []
        try forEachRecord(ofStream: state.id, named: name) { chunkID, record in
            guard record.offset < keepFrom else { return false }  // a reader still needs every record from here
            if let key = record.key, newestOffsets[makeByteArray(key)] != record.offset {
                chunksToRewrite.append(chunkID)
                return false
            }
            return true
        }
        var removed: Int64 = 0
        for chunkID in chunksToRewrite {
            let (count, bytes) = try rewriteChunk(chunkID, ofStream: name) { record in
                guard let key = record.key, record.offset < keepFrom else { return true }
                return newestOffsets[makeByteArray(key)] == record.offset
            }
            removed += count
            state.recordCount -= count
            state.payloadBytes -= bytes
        }
        return removed
    }

    /// Calls `body` with each record of a stream and the id of its chunk, in offset order; `body` returns false to
    /// skip the rest of that chunk.
    fileprivate func forEachRecord(
        ofStream streamID: Int64, named name: String, _ body: (Int64, ChunkRecord) throws -> Bool
    ) throws {
        let select = statements.selectChunksOfStream
        try select.bind(streamID, at: 1)
        defer { select.reset() }
        while try select.step() {
            let header = ChunkHeader(select, from: 1)
            let chunkID = select.int64(at: 0)
            try select.withBlob(at: 6) { data in
                try header.withVerifiedDecoder(of: data, stream: name, path: connection.path) { decoder in
                    do {
                        while let record = try decoder.next() {
                            guard try body(chunkID, record) else { break }
                        }
                    } catch let error as ChunkFormatError {
                        throw header.malformed(error, stream: name, path: connection.path)
                    }
                }
            }
        }
    }

    /// Rewrites a chunk with the records `keep` accepts (deleting it when none is left); returns the records and
    /// payload bytes removed. The chunk keeps its append time and seek maxima (still valid upper bounds).
    fileprivate func rewriteChunk(
        _ chunkID: Int64, ofStream name: String, keep: (ChunkRecord) -> Bool
    ) throws -> (records: Int64, bytes: Int64) {
        let select = statements.selectChunk
        try select.bind(chunkID, at: 1)
        defer { select.reset() }
        guard try select.step() else { return (0, 0) }
        let header = ChunkHeader(select, from: 1)
        var removedBytes: Int64 = 0
        encoder.reset()
        try select.withBlob(at: 6) { data in
            try header.withVerifiedDecoder(of: data, stream: name, path: connection.path) { decoder in
                do {
                    while let record = try decoder.next() {
                        if keep(record) {
                            encoder.append(record)
                        } else {
                            removedBytes += Int64(record.payload.count)
                        }
                    }
                } catch let error as ChunkFormatError {
                    throw header.malformed(error, stream: name, path: connection.path)
                }
            }
        }
        select.reset()
        let removedRecords = header.recordCount - encoder.recordCount
        guard removedRecords > 0 else { return (0, 0) }
        let activity = "rewriting records \(header.baseOffset)...\(header.lastOffset) of stream \(name)"
        if encoder.recordCount == 0 {
            let delete = statements.deleteChunk
            try delete.bind(chunkID, at: 1)
            try delete.run(while: activity)
        } else {
            let stored = encoder.stored()
            let update = statements.updateChunk
            try update.bind(chunkID, at: 1)
            try bindSummary(
                of: encoder, stored: stored, appendedAt: header.appendedAt, maxPosition: encoder.maxPosition, to: update)
            try update.withBlob(stored, at: 11) {
                try update.run(while: activity)
            }
        }
        return (removedRecords, removedBytes)
    }

    /// The first offset to keep so that the payload bytes kept are at most `maxBytes`.
    ///
    /// Whole chunks are summed from their `payload_bytes`; only the chunk the boundary falls in is decoded.
    fileprivate func sizeBoundary(of state: StreamState, named name: String, maxBytes: Int64) throws -> Int64 {
        let excess = state.payloadBytes - maxBytes
        var dropped: Int64 = 0
        var boundaryChunk: Int64?
        do {
            let select = statements.selectChunkSizes
            try select.bind(state.id, at: 1)
            defer { select.reset() }
            while try select.step() {
                if dropped >= excess {
                    return select.int64(at: 1)
                }
                let bytes = select.int64(at: 2)
                if dropped + bytes >= excess {
                    boundaryChunk = select.int64(at: 0)
                    break
                }
                dropped += bytes
            }
        }
        guard let boundaryChunk else { return state.nextOffset }
        var boundary: Int64?
        let select = statements.selectChunk
        try select.bind(boundaryChunk, at: 1)
        defer { select.reset() }
        guard try select.step() else { return state.nextOffset }
        let header = ChunkHeader(select, from: 1)
        try select.withBlob(at: 6) { data in
            try header.withVerifiedDecoder(of: data, stream: name, path: connection.path) { decoder in
                do {
                    while let record = try decoder.next() {
                        if dropped >= excess {
                            boundary = record.offset
                            return
                        }
                        dropped += Int64(record.payload.count)
                    }
                } catch let error as ChunkFormatError {
                    throw header.malformed(error, stream: name, path: connection.path)
                }
            }
        }
        if let boundary {
            return boundary
        }
        // The whole chunk goes: keep from the next chunk on.
        return header.lastOffset + 1
    }

    /// Removes the records before `boundary`: the chunks that lie wholly before it, and the head of the chunk it
    /// falls in (rewritten).
    fileprivate func removeRecords(
        before boundary: Int64, from state: inout StreamState, named name: String
    ) throws -> Int64 {
        let totals = statements.selectPrefixTotals
        try totals.bind(state.id, at: 1)
        try totals.bind(boundary, at: 2)
        var count: Int64 = 0
        var bytes: Int64 = 0
        if try totals.step() {
            count = totals.int64(at: 0)
            bytes = totals.int64(at: 1)
        }
        totals.reset()
        if count > 0 {
            let delete = statements.deleteChunksBefore
            try delete.bind(state.id, at: 1)
            try delete.bind(boundary, at: 2)
            try delete.run(while: "removing records before offset \(boundary) from stream \(name)")
        }
        let straddling = statements.selectChunkStraddling
        try straddling.bind(state.id, at: 1)
        try straddling.bind(boundary, at: 2)
        let straddlingChunk = try straddling.step() ? straddling.int64(at: 0) : nil
        straddling.reset()
        if let straddlingChunk {
            let trimmed = try rewriteChunk(straddlingChunk, ofStream: name) { $0.offset >= boundary }
            count += trimmed.records
            bytes += trimmed.bytes
        }
        state.recordCount -= count
        state.payloadBytes -= bytes
        return count
    }
}

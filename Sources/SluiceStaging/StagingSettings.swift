import Foundation
import SluiceConnectorKit
import SluiceCore
import SluiceObjectStore
import SluiceParquet

/// The configuration fields both staging sinks have, in each sink's wording (`describe` and the READMEs show it).
public enum StagingFields {
    /// `path`: the directory the sink writes.
    public static func path(_ description: String, example: String) -> FieldSpec {
        FieldSpec("path", .string, required: true, description: description, example: example)
    }

    /// `deletes`: how the emitted SQL applies a delete.
    public static func deletes(_ description: String) -> FieldSpec {
        FieldSpec(
            "deletes", .oneOf(StagingDeleteMode.allCases.map(\.rawValue)), default: .string("hard"),
            description: description)
    }

    /// `max_file_size`, `max_file_rows` and `max_file_age`: when pending changes become a file. `rolled` says what
    /// happens then ("a file is staged"), `idle` what the sink does with everything when the stream goes idle.
    public static func roll(rolled: String, idle: String) -> [FieldSpec] {
        [
            FieldSpec(
                "max_file_size", .size, default: .size(64 << 20),
                description: "\(rolled) once its changes reach about this size (uncompressed)", example: "128MiB"),
            FieldSpec(
                "max_file_rows", .int, default: .int(1_000_000),
                description: "\(rolled) once it holds this many changes"),
            FieldSpec(
                "max_file_age", .duration, default: .duration(60),
                description: "\(rolled) once its first change waited this long (the sink also \(idle) everything "
                    + "when the stream goes idle)", example: "5m"),
        ]
    }

    /// `compression`: Parquet page compression.
    public static let compression = FieldSpec(
        "compression", .oneOf(["snappy", "zstd", "gzip", "none"]), default: .string("snappy"),
        description: "Parquet page compression")

    /// `fsync`: whether `what` is fsynced.
    public static func fsync(_ what: String) -> FieldSpec {
        FieldSpec("fsync", .bool, default: .bool(true), description: "fsync \(what) (turn off only for tests)")
    }
}

/// When a pending batch becomes a file.
public struct RollPolicy: Sendable {
    var maxBytes: Int
    var maxRows: Int
    var maxAgeSeconds: Double

    func isFull(_ pending: PendingRows) -> Bool {
        pending.bytes >= maxBytes || pending.rows.count >= maxRows
    }

    func isOld(_ pending: PendingRows) -> Bool {
        guard let started = pending.startedAt else { return false }
        let age = ContinuousClock.now - started
        return Double(age.components.seconds) + Double(age.components.attoseconds) / 1e18 >= maxAgeSeconds
    }
}

/// A stream's state in a staging sink: at least the changes not yet published.
public protocol PendingStream {
    var pending: PendingRows? { get set }
}

/// The settings both staging sinks read the same way, and the batching of changes into files they share.
public struct StagingSettings: Sendable {
    /// The sink's directory (absolute), created by `init`.
    public let directory: String
    let pipeline: String
    /// The sink's name in the pipeline (`sinks.<name>`).
    public let instanceName: String
    /// How the emitted SQL applies deletes.
    public let deletes: StagingDeleteMode
    let roll: RollPolicy
    /// The Parquet page compression of the sink's data files.
    public let compression: ParquetCompression
    /// Where the sink's files are published (fsynced unless `fsync: false`).
    public let store: LocalObjectStore

    /// Reads the shared fields of `context.config` and creates the directory (`defaultPath` when `path` is absent).
    public init(context: SinkContext, defaultPath: String) throws {
        let config = context.config
        directory = URL(fileURLWithPath: config.string("path") ?? defaultPath).standardizedFileURL.path
        pipeline = context.pipeline
        instanceName = config.instanceName
        deletes = StagingDeleteMode(rawValue: config.string("deletes") ?? "hard") ?? .hard
        roll = RollPolicy(
            maxBytes: Int(config.size("max_file_size") ?? (64 << 20)),
            maxRows: max(1, config.int("max_file_rows") ?? 1_000_000),
            maxAgeSeconds: config.duration("max_file_age") ?? 60)
        switch config.string("compression") ?? "snappy" {
        case "zstd": compression = .zstd
        case "gzip": compression = .gzip
        case "none": compression = .uncompressed
        default: compression = .snappy
        }
        store = LocalObjectStore(sync: config.bool("fsync") ?? true)
        do {
            try store.makeFolder(directory)
        } catch var error as SluiceError {
            error.location = "sinks.\(config.instanceName).path"
            throw error
        }
    }

    /// The folder name of a stream: the stream without the pipeline prefix (`schema.table`).
    public func folderName(stream: String) -> String {
        let prefix = pipeline + "."
        let name = stream.hasPrefix(prefix) ? String(stream.dropFirst(prefix.count)) : stream
        return PathComponent.safe(name)
    }

    /// Adds the rows of the batch's changes at and after `durable` (and after those pending) to `stream.pending`,
    /// calling `publish` when the pending rows must become a file: before a change of another schema version, when
    /// they are full, and at the end when they are old. All rows of one change go into the same file (a file covers
    /// whole offsets).
    public func collect<Stream: PendingStream>(
        _ batch: SinkBatch, into stream: inout Stream, durable: Int64, publish: (inout Stream) throws -> Void
    ) throws {
        let pendingEnd = stream.pending.map { $0.lastOffset + 1 } ?? durable
        for record in batch.records where record.offset >= max(durable, pendingEnd) {
            guard let schema = batch.schemas[record.event.schemaVersion] else {
                throw SluiceError(
                    .sink, "no schema version \(record.event.schemaVersion) for \(batch.table)",
                    location: "stream \(batch.stream) offset \(record.offset)",
                    hint: "the _schemas stream lacks this version; the log is incomplete")
            }
            let rows = ChangeRow.rows(record: record, schema: schema)
            if rows.isEmpty { continue }
            if let pending = stream.pending, pending.schema.version != schema.version, !pending.isEmpty {
                try publish(&stream)
            }
            if stream.pending == nil || stream.pending!.schema.version != schema.version {
                stream.pending = PendingRows(schema: schema)
            }
            for row in rows { stream.pending!.append(row) }
            if roll.isFull(stream.pending!) { try publish(&stream) }
        }
        if let pending = stream.pending, !pending.isEmpty, roll.isOld(pending) {
            try publish(&stream)
        }
    }

    /// Publishes the pending rows of every stream (in stream order) and returns what each stream holds durably.
    public func flush<Stream: PendingStream>(
        _ streams: inout [String: Stream], publish: (inout Stream, String) throws -> Void,
        durable: (Stream) -> Int64
    ) throws -> [String: Int64] {
        var offsets: [String: Int64] = [:]
        for name in streams.keys.sorted() {
            var stream = streams[name]!
            if let pending = stream.pending, !pending.isEmpty {
                defer { streams[name] = stream }
                try publish(&stream, name)
            }
            offsets[name] = durable(stream)
        }
        return offsets
    }
}

import Foundation
import SluiceCore
import SluiceLog
import SluiceRuntime
import Synchronization

/// What every tool shares: the pipeline, the log and its schema catalog, the access gate, paging and the state
/// store. One per process (`QueryService` makes it), shared by all sessions.
final class ToolEnvironment: Sendable {
    let pipeline: PipelineConfig
    let settings: MCPSettings
    let log: any ChangeLog
    let access: AccessGate
    let paging = Paging()
    let runtimeStatus: @Sendable () -> RuntimeStatus?
    /// Schemas of the pipeline's tables, read from `_schemas` up to `catalogNext`.
    let catalog = SchemaCatalog()
    private let catalogNext = Mutex<Int64>(0)
    private let stateStore = Mutex<StateStore?>(nil)
    /// The change streams as of a log data version (see `changeStreams()`).
    private let streamsCache = Mutex<(version: Int64, streams: [ChangeStream])?>(nil)

    init(
        pipeline: PipelineConfig, settings: MCPSettings, log: any ChangeLog,
        runtimeStatus: @escaping @Sendable () -> RuntimeStatus?
    ) {
        self.pipeline = pipeline
        self.settings = settings
        self.log = log
        self.access = AccessGate(governance: settings.governance)
        self.runtimeStatus = runtimeStatus
    }

    var masker: ColumnMasker { access.masker }

    // MARK: Streams and schemas

    /// Change streams of the pipeline with their tables (from the schema catalog), refreshed from `_schemas`.
    ///
    /// The log is re-read only when its data version moved (`ChangeLog.dataVersion`: another process, such as
    /// `sluice run`, committed), so agents' calls against an idle log read no stream at all.
    func changeStreams() async throws -> [ChangeStream] {
        let version = try await log.dataVersion()
        if let cached = streamsCache.withLock({ $0 }), cached.version == version { return cached.streams }
        try await refreshCatalog()
        let tables = Dictionary(catalog.tables.map { (pipeline.stream(for: $0), $0) }, uniquingKeysWith: { a, _ in a })
        let streams = try await log.streams().filter { pipeline.isChangeStream($0.name) }.map {
            ChangeStream(info: $0, table: tables[$0.name])
        }
        // `version` was read before the streams, so a commit in between moves the version and is read next time.
        streamsCache.withLock { $0 = (version, streams) }
        return streams
    }

    /// The change streams the principal may describe.
    func visibleStreams(_ principal: Principal) async throws -> [ChangeStream] {
        try await changeStreams().filter { access.allows(principal, .describe, stream: $0.info.name) }
    }

    /// Adds the schemas appended to `_schemas` since the last refresh to the catalog.
    private func refreshCatalog() async throws {
        var next = catalogNext.withLock { $0 }
        while true {
            let records = try await log.read(stream: SystemStream.schemas, from: next, limit: 1000)
            guard let last = records.last else { break }
            for record in records {
                if let schema = try? SchemaCatalog.decode(record.payload) { catalog.add(schema) }
            }
            next = last.offset + 1
        }
        catalogNext.withLock { $0 = max($0, next) }
    }

    /// The stream if the principal may perform the operation on it (see `AccessGate.authorize`).
    func authorize(
        _ stream: String, _ operation: StreamOperation, principal: Principal
    ) async throws -> AuthorizedStream {
        try access.authorize(stream, operation, principal: principal, among: try await changeStreams())
    }

    /// A stream's offsets and count, as `ToolSchema.streamOffsets` declares them.
    static func writeOffsets(_ info: StreamInfo, to out: inout JSONText) {
        out.key("first_offset"); out.raw(String(info.firstOffset))
        out.key("last_offset"); out.raw(info.nextOffset > info.firstOffset ? String(info.nextOffset - 1) : "null")
        out.key("next_offset"); out.raw(String(info.nextOffset))
        out.key("count"); out.raw(String(info.count))
    }

    // MARK: State store

    /// The state sink's store (opened once), or an error saying how to get one.
    func openStateStore() throws -> StateStore {
        if let store = stateStore.withLock({ $0 }) { return store }
        guard let path = settings.statePath else {
            throw ToolError(
                "this pipeline has no state sink: add a sink with type: state (and a path) to use this tool")
        }
        do {
            let store = try StateStore(path: path)
            stateStore.withLock { $0 = store }
            return store
        } catch {
            throw ToolError(
                "the state store is not available yet (\(path)): run the pipeline with its state sink first")
        }
    }
}

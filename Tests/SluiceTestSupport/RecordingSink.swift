import SluiceConnectorKit
import SluiceCore
import Synchronization

/// A sink for pipeline tests (`type: recording`): records the offsets it is given, per pipeline and stream, and
/// reports each batch durable as soon as `write` returns it, so the runtime commits consumer offsets at once.
public actor RecordingSink: SinkConnector {
    public static let spec = ConnectorSpec(name: "recording", role: .sink, summary: "test sink", fields: [])
    /// pipeline → stream → offsets received, in order (the runtime creates the sink, so the record is shared).
    private static let received = Mutex<[String: [String: [Int64]]]>([:])
    private let pipeline: String

    public init(context: SinkContext) throws { pipeline = context.pipeline }

    /// The offsets the sinks of `pipeline` received, in order (every stream when `stream` is nil).
    public static func offsets(pipeline: String, stream: String? = nil) -> [Int64] {
        received.withLock { received in
            let streams = received[pipeline] ?? [:]
            if let stream { return streams[stream] ?? [] }
            return streams.keys.sorted().flatMap { streams[$0] ?? [] }
        }
    }

    public func write(_ batch: SinkBatch) async throws -> [String: Int64] {
        Self.received.withLock { $0[pipeline, default: [:]][batch.stream, default: []] += batch.records.map(\.offset) }
        return [batch.stream: batch.nextOffset]
    }

    public func flush() async throws -> [String: Int64] { [:] }
}

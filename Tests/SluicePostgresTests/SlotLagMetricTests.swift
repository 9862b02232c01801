import CoreMetrics
import Foundation
import SluiceCore
import SluicePostgres
import SluiceRuntime
import SluiceTestSupport
import Testing

/// Records the last value of each gauge by label (the only metrics factory of this test process).
final class GaugeRecorder: MetricsFactory, @unchecked Sendable {
    static let shared: GaugeRecorder = {
        let recorder = GaugeRecorder()
        MetricsSystem.bootstrap(recorder)
        return recorder
    }()

    private let lock = NSLock()
    private var values: [String: Int64] = [:]

    func value(_ label: String) -> Int64? { lock.withLock { values[label] } }

    final class Handler: RecorderHandler, @unchecked Sendable {
        let label: String
        let owner: GaugeRecorder
        init(label: String, owner: GaugeRecorder) {
            self.label = label
            self.owner = owner
        }
        func record(_ value: Int64) { owner.lock.withLock { owner.values[label] = value } }
        func record(_ value: Double) { record(Int64(value)) }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> CounterHandler { NOOPMetricsHandler.instance }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> RecorderHandler {
        aggregate ? NOOPMetricsHandler.instance : Handler(label: label, owner: self)
    }
    func makeTimer(label: String, dimensions: [(String, String)]) -> TimerHandler { NOOPMetricsHandler.instance }
    func destroyCounter(_ handler: CounterHandler) {}
    func destroyRecorder(_ handler: RecorderHandler) {}
    func destroyTimer(_ handler: TimerHandler) {}
}

@Suite("Slot lag metric", .needsPostgres)
struct SlotLagMetricTests {
    @Test("sluice_pg_slot_lag_bytes reports the slot's retained WAL")
    func slotLagGauge() async throws {
        let url = try TestServers.postgres()
        let recorder = GaugeRecorder.shared
        let table = uniqueName("lag")
        let slot = table + "_slot", publication = table + "_pub"
        try psql(url, "CREATE TABLE \(table) (id int PRIMARY KEY)")
        defer { cleanUp(url, slot: slot, publication: publication, tables: [table]) }
        let log = RecordingRuntime()
        try await runSource(log.context(url: url, [
            "slot": .string(slot), "publication": .string(publication), "tables": .list([.string(table)]),
            "snapshot_mode": .string("never"), "status_interval": .duration(1),
        ]), timeout: 30, until: { recorder.value("sluice_pg_slot_lag_bytes") != nil })
        let lag = try #require(recorder.value("sluice_pg_slot_lag_bytes"))
        // Other tests may write lots of WAL meanwhile: bound it by the WAL the server has ever written.
        let total = Int64(try psql(url, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint")) ?? 0
        #expect(lag >= 0 && lag <= total, "lag \(lag) bytes of \(total)")
    }
}

import Foundation
import SluiceCore
import SluiceLog
import SluiceTestSupport
import Testing

/// Kills a process that appends to the log (`LogBenchmark crash-writer`) at random moments, then checks the file.
@Suite struct CrashRecoveryTests {
    /// One acknowledged append, as the writer printed it after `append` returned.
    struct Acknowledgement: Hashable {
        var batch: BatchID
        var ranges: [String: Range<Int64>]
    }

    /// Which writer task appended a batch: "RUN:TASK:SEQUENCE".
    struct BatchID: Hashable, CustomStringConvertible {
        var run: Int
        var task: Int
        var sequence: Int

        var description: String { "\(run):\(task):\(sequence)" }
    }

    @Test func killedWriterLosesNoAcknowledgedAppendAndLeavesNoPartialBatch() async throws {
        let executable = try crashWriterExecutable()
        let directory = try TemporaryDirectory()
        var acknowledgements: [Acknowledgement] = []
        for run in 0..<4 {
            let runAcknowledgements = try await runAndKillWriter(executable, logPath: directory.logPath, run: run)
            #expect(!runAcknowledgements.isEmpty, "run \(run) acknowledged no append before it was killed")
            acknowledgements += runAcknowledgements
        }

        let log = try SQLiteChangeLog(path: directory.logPath)
        var batchesPerStream: [String: Set<BatchID>] = [:]
        for stream in ["crash.a", "crash.b"] {
            let records = try await log.readAll(stream)
            #expect(records.map(\.offset) == Array(0..<Int64(records.count)), "offsets of \(stream) are not dense")
            var offsetsPerBatch: [BatchID: (count: Int, offsets: [Int64])] = [:]
            for record in records {
                // RUN:TASK:SEQUENCE:STREAM:COUNT:INDEX
                let fields = record.text.split(separator: ":")
                let batch = BatchID(run: Int(fields[0])!, task: Int(fields[1])!, sequence: Int(fields[2])!)
                offsetsPerBatch[batch, default: (Int(fields[4])!, [])].offsets.append(record.offset)
            }
            for (batch, stored) in offsetsPerBatch {
                let contiguous = stored.offsets == Array(stored.offsets[0]..<stored.offsets[0] + Int64(stored.count))
                #expect(contiguous, "batch \(batch) in \(stream) is partial or split: \(stored.offsets)")
            }
            batchesPerStream[stream] = Set(offsetsPerBatch.keys)
            for acknowledgement in acknowledgements {
                let range = try #require(acknowledgement.ranges[stream])
                let stored = offsetsPerBatch[acknowledgement.batch]?.offsets ?? []
                #expect(stored == Array(range), "acknowledged batch \(acknowledgement.batch) of \(stream) is missing")
            }
        }
        #expect(batchesPerStream["crash.a"] == batchesPerStream["crash.b"], "a batch spanning both streams is torn")

        // Connector state commits with its records: each task's state names its newest stored batch.
        let stored = batchesPerStream["crash.a"] ?? []
        for task in 0..<4 {
            let newest = stored.filter { $0.task == task }.max { ($0.run, $0.sequence) < ($1.run, $1.sequence) }
            let state = try await log.state("writer.\(task)").map { String(decoding: $0, as: UTF8.self) }
            #expect(state == newest.map { "\($0.run):\($0.sequence)" })
        }
        try await log.close()
    }

    /// Starts a writer, lets it append for a random moment after its first acknowledgement, and kills it.
    private func runAndKillWriter(_ executable: URL, logPath: String, run: Int) async throws -> [Acknowledgement] {
        let outputURL = URL(fileURLWithPath: logPath + ".acks-\(run)")
        try Data().write(to: outputURL)
        let output = try FileHandle(forWritingTo: outputURL)
        defer { try? output.close() }
        let process = Process()
        process.executableURL = executable
        process.arguments = ["crash-writer", logPath, "\(run)"]
        process.standardOutput = output
        try process.run()
        // The writer is another process: its first acknowledgement shows up in the file.
        let acknowledged = try await waitUntil(timeout: 20, interval: .milliseconds(5)) {
            try !Data(contentsOf: outputURL).isEmpty || !process.isRunning
        }
        #expect(acknowledged, "the writer acknowledged nothing within 20 s")
        // A random crash point, not a wait: the writer keeps appending until the kill.
        try await Task.sleep(for: .milliseconds(Int.random(in: 10...400)))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.wasKilled(by: SIGKILL), "the writer was not ended by the kill (\(process.endDescription))")

        // Only complete lines: the kill may cut the last one.
        let text = String(decoding: try Data(contentsOf: outputURL), as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { line in
            // ack RUN TASK SEQUENCE FIRST_A END_A FIRST_B END_B
            let fields = line.split(separator: " ").dropFirst().map { Int64($0)! }
            return Acknowledgement(
                batch: BatchID(run: Int(fields[0]), task: Int(fields[1]), sequence: Int(fields[2])),
                ranges: ["crash.a": fields[3]..<fields[4], "crash.b": fields[5]..<fields[6]]
            )
        }
    }

    /// The LogBenchmark executable, built next to the test binary.
    private func crashWriterExecutable() throws -> URL {
        try TestEnvironment.builtExecutable("LogBenchmark")
    }
}

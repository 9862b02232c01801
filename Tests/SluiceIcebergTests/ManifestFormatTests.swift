import Foundation
import SluiceAvro
import SluiceCore
import SluiceTestSupport
import Testing

@testable import SluiceIceberg

@Suite struct ManifestFormatTests {
    @Test func fastavroFindsTheSpecSchemasInManifestsAndManifestLists() async throws {
        let workload = OrdersWorkload(count: 800, keys: 100)
        let (warehouse, _) = try await writeWorkload(
            workload, into: "manifests", ["mode": .string("upsert"), "partition_by": .string("day(updated_at)")])
        let metadataPath = try currentMetadataPath(warehouse)
        let result = try Python.jsonObject(.icebergManifests, [metadataPath])
        #expect(result["listName"] as? String == "manifest_file")
        let listIds = try #require(result["listIds"] as? [String: Int])
        #expect(listIds["manifest_path"] == 500 && listIds["partitions"] == 507 && listIds["content"] == 517)
        #expect(listIds["sequence_number"] == 515 && listIds["min_sequence_number"] == 516)
        #expect(
            result["listMeta"] as? [String] == [
                "format-version", "parent-snapshot-id", "sequence-number", "snapshot-id",
            ])
        let manifests = try #require(result["manifests"] as? [[String: Any]])
        #expect(!manifests.isEmpty)
        #expect(manifests.contains { $0["content"] as? Int == 1 })
        for manifest in manifests {
            #expect(manifest["name"] as? String == "manifest_entry")
            #expect(manifest["dataFileName"] as? String == "r2")
            #expect(manifest["partitionName"] as? String == "r102")
            #expect(manifest["partitionFieldIds"] as? [Int] == [1000])
            let ids = try #require(manifest["ids"] as? [String: Int])
            #expect(
                ids == ["status": 0, "snapshot_id": 1, "sequence_number": 3, "file_sequence_number": 4, "data_file": 2])
            let fileIds = try #require(manifest["dataFileIds"] as? [String: Int])
            #expect(fileIds["content"] == 134 && fileIds["file_path"] == 100 && fileIds["lower_bounds"] == 125)
            #expect(fileIds["upper_bounds"] == 128 && fileIds["value_counts"] == 109 && fileIds["split_offsets"] == 132)
            let meta = try #require(manifest["meta"] as? [String: String])
            #expect(
                Set(meta.keys) == [
                    "schema", "schema-id", "partition-spec", "partition-spec-id", "format-version", "content",
                ])
            #expect(meta["format-version"] == "2")
            #expect(meta["content"] == ((manifest["content"] as? Int) == 0 ? "data" : "deletes"))
            #expect(meta["partition-spec"]?.contains("\"transform\":\"day\"") == true)
            let entries = try #require(manifest["entries"] as? [[String: Any]])
            for entry in entries where entry["status"] as? Int == 1 {
                // ADDED entries inherit their sequence numbers.
                #expect(entry["seq"] is NSNull && entry["fseq"] is NSNull)
            }
        }
        // The newest data manifest has bounds for the id column (field 1), as 8-byte little-endian longs.
        let data = try #require(manifests.first { $0["content"] as? Int == 0 })
        let entry = try #require((data["entries"] as? [[String: Any]])?.first)
        #expect(((entry["lower"] as? [String: String])?["1"])?.count == 16)
        #expect((entry["counts"] as? [String: Int])?["1"] != nil)
    }

    @Test func singleValueSerializationFollowsAppendixD() {
        #expect(SingleValue.bytes(.long(1), type: .long) == [1, 0, 0, 0, 0, 0, 0, 0])
        #expect(SingleValue.bytes(.long(-2), type: .int) == [0xFE, 0xFF, 0xFF, 0xFF])
        #expect(SingleValue.bytes(.long(19000), type: .date) == [0x38, 0x4A, 0, 0])
        #expect(SingleValue.bytes(.bool(true), type: .boolean) == [1])
        #expect(SingleValue.bytes(.string("é"), type: .string) == [0xC3, 0xA9])
        #expect(SingleValue.bytes(.double(1.0), type: .double) == [0, 0, 0, 0, 0, 0, 0xF0, 0x3F])
        // Decimals: minimal big-endian two's complement of the unscaled value.
        #expect(SingleValue.bytes(.decimal(12345), type: .decimal(precision: 9, scale: 2)) == [0x30, 0x39])
        #expect(SingleValue.bytes(.decimal(-1), type: .decimal(precision: 9, scale: 2)) == [0xFF])
        #expect(SingleValue.bytes(.decimal(128), type: .decimal(precision: 9, scale: 2)) == [0x00, 0x80])
        #expect(DecimalBytes.minimumBytes(precision: 9) == 4)
        #expect(DecimalBytes.minimumBytes(precision: 18) == 8)
        #expect(DecimalBytes.minimumBytes(precision: 38) == 16)
    }

    @Test func decimalsAreRescaledExactly() throws {
        let twelveFifty = ExactDecimal("12.5")!
        #expect(CellConversion.unscaled(twelveFifty, scale: 2) == 1250)
        #expect(CellConversion.unscaled(ExactDecimal("-0.005")!, scale: 2) == -1)
        #expect(
            CellConversion.unscaled(ExactDecimal("99999999999999999999999999999999999999")!, scale: 0)
                == Int128("99999999999999999999999999999999999999"))
    }

    @Test func schemaEvolutionAddsColumnsWidensTypesAndRejectsIncompatibleChanges() throws {
        let v1 = OrdersWorkload.schema(version: 1)
        let first = try TableWriter.evolvedSchema(current: nil, lastColumnId: 0, source: v1, mode: .upsert)
        #expect(first.fields.map(\.id) == [1, 2, 3, 4, 5, 6])
        #expect(first.fields[0].required && !first.fields[1].required)
        #expect(first.identifierFieldIds == [1])
        let second = try TableWriter.evolvedSchema(
            current: first, lastColumnId: 6, source: OrdersWorkload.schema(version: 2), mode: .upsert)
        #expect(second.fields.count == 7 && second.fields[6].id == 7 && !second.fields[6].required)
        #expect(second.fields[2].type == .decimal(precision: 16, scale: 2))
        var broken = OrdersWorkload.schema(version: 3)
        broken.columns[1] = ColumnSchema(name: "name", sourceType: "bigint", kind: .int)
        #expect(throws: IcebergError.self) {
            _ = try TableWriter.evolvedSchema(current: second, lastColumnId: 7, source: broken, mode: .upsert)
        }
    }

    @Test func metadataRoundTripsThroughJSON() throws {
        let schema = try TableWriter.evolvedSchema(
            current: nil, lastColumnId: 0, source: OrdersWorkload.schema(version: 1), mode: .append)
        var metadata = TableMetadata(
            location: "file:///w/t", schema: schema, spec: .unpartitioned, properties: [("a", "b")])
        metadata.snapshots = [
            Snapshot(
                snapshotId: 42, parentSnapshotId: nil, sequenceNumber: 1, timestampMs: 1000,
                manifestList: "file:///w/t/l.avro",
                summary: [("operation", "append"), ("sluice.offsets", #"{"s":10}"#)], schemaId: 0)
        ]
        metadata.currentSnapshotId = 42
        let parsed = try TableMetadata(json: try AvroJSON.parse(metadata.json.text))
        #expect(parsed.currentSchema == schema)
        #expect(parsed.currentSnapshot?.summaryValue("sluice.offsets") == #"{"s":10}"#)
        #expect(parsed.json.text == metadata.json.text)
    }
}

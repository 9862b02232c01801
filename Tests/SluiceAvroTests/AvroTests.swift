import Foundation
import SluiceAvro
import SluiceTestSupport
import Testing

func temporaryPath(_ name: String) throws -> String {
    try TestEnvironment.temporaryFolder("sluice-avro").appendingPathComponent(name).path
}

/// An optional int-keyed map written as Iceberg does: an array of `k<keyID>_v<valueID>` key/value records.
func optionalIntKeyedMap(_ name: String, values: AvroSchema, keyID: Int, valueID: Int, fieldId: Int) -> AvroField {
    let entry = AvroRecord(
        name: "k\(keyID)_v\(valueID)",
        fields: [
            AvroField(name: "key", type: .int, fieldId: keyID),
            AvroField(name: "value", type: values, fieldId: valueID),
        ])
    return AvroField.optional(name, .array(AvroArray(items: .record(entry), logicalType: "map")), fieldId: fieldId)
}

/// A schema shaped like Iceberg's manifest entries: nested records, optional unions, int-keyed maps as arrays.
let sampleSchema: AvroSchema = .record(
    AvroRecord(
        name: "manifest_entry",
        fields: [
            AvroField(name: "status", type: .int, fieldId: 0),
            AvroField.optional("snapshot_id", .long, fieldId: 1),
            AvroField(
                name: "data_file",
                type: .record(
                    AvroRecord(
                        name: "r2",
                        fields: [
                            AvroField(name: "file_path", type: .string, fieldId: 100),
                            AvroField(name: "record_count", type: .long, fieldId: 103),
                            optionalIntKeyedMap("value_counts", values: .long, keyID: 119, valueID: 120, fieldId: 109),
                            optionalIntKeyedMap("lower_bounds", values: .bytes, keyID: 126, valueID: 127, fieldId: 125),
                            AvroField.optional(
                                "split_offsets", .array(AvroArray(items: .long, elementId: 133)), fieldId: 132),
                            AvroField(name: "ratio", type: .double),
                            AvroField(name: "flag", type: .boolean),
                            AvroField(name: "digest", type: .fixed(AvroFixed(name: "md5", size: 4))),
                            AvroField(name: "tags", type: .map(values: .string)),
                            AvroField(name: "day", type: .logical(base: .int, logicalType: "date", attributes: [])),
                        ])), fieldId: 2),
        ]))

func sampleRecord(_ i: Int) -> AvroValue {
    .record([
        .int(Int32(i % 3)),
        i % 2 == 0 ? .null : .long(Int64(i) * 1_000_000_007),
        .record([
            .string("s3://bucket/data/file-\(i)-ünïcode.parquet"),
            .long(Int64(i) - 5),
            .array([.record([.int(1), .long(Int64(i))]), .record([.int(2), .long(-Int64(i))])]),
            i % 4 == 0 ? .null : .array([.record([.int(1), .bytes([0, 1, 2, UInt8(i & 0xFF)])])]),
            .array((0..<(i % 5)).map { .long(Int64($0) << 40) }),
            .double(Double(i) / 3),
            .boolean(i % 2 == 1),
            .fixed([1, 2, 3, UInt8(i & 0xFF)]),
            .map([AvroMapEntry("k", .string("v\(i)"))]),
            .int(Int32(19000 + i)),
        ]),
    ])
}

@Suite struct AvroBinaryTests {
    @Test func zigzagVarintsMatchTheSpecification() throws {
        let cases: [(Int64, [UInt8])] = [
            (0, [0x00]), (-1, [0x01]), (1, [0x02]), (-2, [0x03]), (2, [0x04]), (-64, [0x7F]), (64, [0x80, 0x01]),
            (Int64.max, [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            (Int64.min, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        ]
        for (value, bytes) in cases {
            var encoder = AvroBinaryEncoder()
            encoder.writeLong(value)
            #expect(encoder.bytes == bytes, "zigzag of \(value)")
            var decoder = AvroBinaryDecoder(bytes: bytes)
            #expect(try decoder.readLong() == value)
        }
    }

    @Test func valuesRoundTripThroughTheBinaryEncoding() throws {
        for i in 0..<20 {
            var encoder = AvroBinaryEncoder()
            try encoder.write(sampleRecord(i), as: sampleSchema)
            var decoder = AvroBinaryDecoder(bytes: encoder.bytes)
            #expect(try decoder.read(sampleSchema) == sampleRecord(i))
            #expect(decoder.isAtEnd)
        }
    }

    @Test func mismatchedValuesAreRejectedWithTheFieldName() {
        var encoder = AvroBinaryEncoder()
        #expect(throws: AvroError.self) {
            try encoder.write(.record([.string("x"), .null, .null]), as: sampleSchema)
        }
    }

    @Test func schemasRoundTripThroughJSON() throws {
        let text = sampleSchema.json.text
        #expect(text.contains(#""field-id":109"#))
        #expect(text.contains(#""element-id":133"#))
        #expect(text.contains(#""logicalType":"map""#))
        let parsed = try AvroSchema(jsonText: text)
        #expect(parsed == sampleSchema)
    }

    @Test func truncatedDataIsReportedNotCrashed() throws {
        var encoder = AvroBinaryEncoder()
        try encoder.write(sampleRecord(3), as: sampleSchema)
        for cut in stride(from: 0, to: encoder.bytes.count, by: 7) {
            var decoder = AvroBinaryDecoder(bytes: Array(encoder.bytes[..<cut]))
            #expect(throws: AvroError.self) { _ = try decoder.read(sampleSchema) }
        }
    }
}

@Suite struct AvroContainerTests {
    @Test(arguments: [AvroCodec.null, .deflate])
    func containerFilesRoundTrip(codec: AvroCodec) throws {
        var writer = try AvroContainerWriter(
            schema: sampleSchema, codec: codec, metadata: [("format-version", "2"), ("content", "data")],
            recordsPerBlock: 7)
        for i in 0..<50 { try writer.append(sampleRecord(i)) }
        let bytes = try writer.finish()
        let reader = try AvroContainerReader(bytes: bytes)
        #expect(reader.codec == codec)
        #expect(reader.metadataString("format-version") == "2")
        #expect(reader.schema == sampleSchema)
        #expect(try reader.records() == (0..<50).map(sampleRecord))
    }

    @Test func deflateIsRawRFC1951() throws {
        let input = Array(String(repeating: "iceberg manifest ", count: 200).utf8)
        let compressed = try RawDeflate.compress(input)
        #expect(compressed.count < input.count / 10)
        // A zlib stream would start with 0x78; raw deflate has no header.
        #expect(compressed.first != 0x78)
        #expect(try RawDeflate.decompress(compressed) == input)
    }

    @Test func aDamagedSyncMarkerIsDetected() throws {
        var writer = try AvroContainerWriter(schema: .long, codec: .null)
        for i in 0..<10 { try writer.append(.long(Int64(i))) }
        var bytes = try writer.finish()
        bytes[bytes.count - 1] ^= 0xFF
        let reader = try AvroContainerReader(bytes: bytes)
        #expect(throws: AvroError.self) { _ = try reader.records() }
    }

    @Test(arguments: [AvroCodec.null, .deflate])
    func fastavroReadsOurFiles(codec: AvroCodec) throws {
        let path = try temporaryPath("ours.avro")
        var writer = try AvroContainerWriter(
            schema: sampleSchema, codec: codec, metadata: [("schema-id", "0")], recordsPerBlock: 5)
        for i in 0..<12 { try writer.append(sampleRecord(i)) }
        try Data(try writer.finish()).write(to: URL(fileURLWithPath: path))
        let json = try Python.jsonObject(.avroReadManifestEntries, [path])
        #expect(json["codec"] as? String == codec.rawValue)
        #expect(json["meta"] as? String == "0")
        #expect(json["count"] as? Int == 12)
        #expect(json["name"] as? String == "manifest_entry")
        #expect(json["fieldIds"] as? [Int] == [0, 1, 2])
        #expect(json["path"] as? String == "s3://bucket/data/file-11-ünïcode.parquet")
        #expect(json["snapshot"] as? Int == 11 * 1_000_000_007)
        #expect(json["bounds"] as? String == "0001020b")
        #expect(json["offsets"] as? [Int] == [0])
        #expect(json["tags"] as? [String: String] == ["k": "v11"])
        let counts = try #require(json["counts"] as? [[String: Int]])
        #expect(counts == [["key": 1, "value": 11], ["key": 2, "value": -11]])
    }

    @Test func weReadFastavroFiles() throws {
        let path = try temporaryPath("theirs.avro")
        _ = try Python.run(.avroWriteRows, [path])
        let reader = try AvroContainerReader(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: path))))
        #expect(reader.codec == .deflate)
        #expect(reader.metadataString("k") == "v")
        guard case .record(let record) = reader.schema else {
            Issue.record("not a record schema")
            return
        }
        #expect(record.fields.map(\.fieldId) == [1, 2, 3, 5])
        let rows = try reader.records()
        #expect(rows.count == 3000)
        #expect(
            rows[7]
                == .record([
                    .long(7), .string("n7"), .array([.double(3.5), .double(3.5), .double(3.5)]),
                    .map([AvroMapEntry("a", .long(7))]),
                ]))
        #expect(rows[9].fields?[1] == .null)
    }
}

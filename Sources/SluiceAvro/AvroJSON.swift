import SluiceCore

/// Avro schemas and container metadata are JSON values (`SluiceCore.JSONValue`), object keys in order.
///
/// Iceberg puts its own JSON (schemas, partition specs) in Avro file metadata. Keeping key order makes written
/// schemas read like the specification's examples and byte-stable across runs.
public typealias AvroJSON = JSONValue

extension JSONValue {
    /// Parses JSON text of an Avro schema or container metadata; malformed text is an invalid schema.
    static func parseAvro(_ text: String) throws -> JSONValue {
        do {
            return try JSONValue.parse(text)
        } catch let error as JSONParseError {
            throw AvroError(.invalidSchema, error.description)
        }
    }
}

import Foundation
import SluiceCore
import SluiceObjectStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Names and places of the sink's files, and the durable steps of publishing one.
///
/// A published file is `<path>/<schema>.<table>/[commit_date=YYYY-MM-DD/]<stream>-<first>-<last>.parquet`, where
/// `first` and `last` are the first and last log offsets the file covers, zero-padded to 20 digits so that names
/// sort by offset. A file being written is `.tmp-<stream>-<first>.inprogress` in the same folder: hidden, and
/// without the `.parquet` suffix, so readers globbing `*.parquet` never see it.
enum PublishedFiles {
    static let temporaryPrefix = ".tmp-"
    static let temporarySuffix = ".inprogress"
    static let publishedSuffix = ".parquet"

    /// What a scan of the output folder found.
    struct ScanResult {
        /// Per stream (as written in file names), the offset after the highest last offset of its files.
        var nextOffsets: [String: Int64] = [:]
        /// How many published files were found.
        var publishedFileCount = 0
        /// Temporary files left by a crash that were removed.
        var removedTemporaryFiles: [String] = []
    }

    /// `<path>/<schema>.<table>` plus `commit_date=YYYY-MM-DD` when partitioned.
    static func folder(root: String, table: TableID, commitDate: String?) -> String {
        var folder = root + "/" + PathComponent.safe(table.qualifiedName)
        if let commitDate { folder += "/commit_date=" + commitDate }
        return folder
    }

    /// The UTC date of a commit time, `YYYY-MM-DD`.
    static func commitDate(micros: Int64) -> String {
        let microsPerDay: Int64 = 86_400_000_000
        let days = micros >= 0 ? micros / microsPerDay : -((-micros - 1) / microsPerDay) - 1
        let civil = TemporalText.civil(fromDays: days)
        func pad(_ number: Int64, _ width: Int) -> String {
            let digits = String(number.magnitude)
            return (number < 0 ? "-" : "") + String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return pad(civil.year, 4) + "-" + pad(Int64(civil.month), 2) + "-" + pad(Int64(civil.day), 2)
    }

    static func paddedOffset(_ offset: Int64) -> String {
        let digits = String(offset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    static func publishedName(stream: String, firstOffset: Int64, lastOffset: Int64) -> String {
        "\(PathComponent.safe(stream))-\(paddedOffset(firstOffset))-\(paddedOffset(lastOffset))\(publishedSuffix)"
    }

    static func temporaryName(stream: String, firstOffset: Int64) -> String {
        "\(temporaryPrefix)\(PathComponent.safe(stream))-\(paddedOffset(firstOffset))\(temporarySuffix)"
    }

    /// Parses `<stream>-<20 digits>-<20 digits>.parquet`; nil for any other name.
    static func parsePublishedName(_ name: String) -> (stream: String, firstOffset: Int64, lastOffset: Int64)? {
        guard name.hasSuffix(publishedSuffix), !name.hasPrefix(".") else { return nil }
        let stem = name.dropLast(publishedSuffix.count)
        let parts = stem.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 3 else { return nil }
        let lastText = parts[parts.count - 1], firstText = parts[parts.count - 2]
        guard lastText.count == 20, firstText.count == 20, let first = Int64(firstText), let last = Int64(lastText),
            first <= last
        else { return nil }
        let stream = parts[..<(parts.count - 2)].joined(separator: "-")
        guard !stream.isEmpty else { return nil }
        return (stream, first, last)
    }

    /// Walks the output folder: records every published file and removes the temporary files of streams whose
    /// names start with `streamPrefix` (this pipeline's), which a crash left behind.
    static func scan(root: String, streamPrefix: String) throws -> ScanResult {
        var result = ScanResult()
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else { return result }
        guard let walker = manager.enumerator(atPath: root) else { return result }
        let temporaryStart = temporaryPrefix + PathComponent.safe(streamPrefix)
        while let relative = walker.nextObject() as? String {
            let name = (relative as NSString).lastPathComponent
            let path = root + "/" + relative
            if name.hasPrefix(temporaryStart) && name.hasSuffix(temporarySuffix) {
                do {
                    try manager.removeItem(atPath: path)
                } catch {
                    throw SluiceError(
                        .sink, "cannot remove the unpublished temporary file \(path) left by an earlier run",
                        hint: "check the folder's permissions; the file holds nothing that was committed",
                        underlying: error)
                }
                result.removedTemporaryFiles.append(path)
            } else if let parsed = parsePublishedName(name) {
                result.publishedFileCount += 1
                result.nextOffsets[parsed.stream] = max(result.nextOffsets[parsed.stream] ?? 0, parsed.lastOffset + 1)
            }
        }
        return result
    }

    /// Where the files are published: a local folder, fsynced (files before their names, names in their folder).
    static let store = LocalObjectStore(sync: true)
}

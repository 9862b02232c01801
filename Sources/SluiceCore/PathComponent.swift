/// Names from a database (schemas, tables, streams) as one file or folder name, or one object-key segment.
///
/// A table may be called `../../etc` or `a/b`: written into a path unchanged, it would leave the sink's folder.
/// `safe` keeps every other character, so the names stay readable and distinct in practice.
public enum PathComponent {
    /// `name` with `/`, `\`, NUL and control characters as `_`, a leading `.` as `_` (no `.`, `..` or hidden
    /// names), and `_` for an empty name.
    public static func safe(_ name: String) -> String {
        var text = String(String.UnicodeScalarView(name.unicodeScalars.map { scalar in
            scalar == "/" || scalar == "\\" || scalar.value < 0x20 || scalar.value == 0x7F ? "_" : scalar
        }))
        if text.hasPrefix(".") { text = "_" + text.dropFirst() }
        return text.isEmpty ? "_" : text
    }
}

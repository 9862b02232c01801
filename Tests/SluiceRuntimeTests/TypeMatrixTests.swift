import Foundation
import SluiceTestSupport
import Testing

/// Issue 14, "Exact everywhere": the type matrix. For each source, `Tests/SluiceTestSupport/Readers/type_matrix.py`
/// creates a table with every type the connector's README lists, with edge values (min/max, NaN/±Infinity,
/// ±infinity dates, BC dates, -0, '' vs NULL, JSON null vs SQL NULL, unicode, 1 MiB values, TOAST, arrays with
/// NULLs, BINARY(n) ending in zero bytes, UUID, INET4/INET6…), snapshots and streams it (copies under new keys,
/// updates, a primary-key change, a delete) through the real `sluice` executable into every sink (parquet in both
/// layouts, iceberg upsert and append, delta, snowflake_stage, jsonl), reads every output back with independent
/// engines (pyarrow, duckdb 2.x, Apache Spark, pyiceberg, deltalake, DuckDB 1.5.5's iceberg and delta extensions,
/// Python's json) and compares every value with the source database's own SELECT. It also checks that the type table
/// in the connector's README (between `<!-- type-matrix:begin -->` and `<!-- type-matrix:end -->`) is the one the
/// sinks really write; on a difference it prints the new table (rewrite it with `--write-docs README`).
///
/// Needs: the server (`SLUICE_TEST_PG_URL` / `SLUICE_TEST_MYSQL_URL`, see `scripts/servers.sh`; skipped without it
/// unless `SLUICE_REQUIRE_SERVERS` is set), `psql` / `mariadb` on PATH, the built `sluice`, the readers' Python
/// (`TestEnvironment.python()`, with pyspark and a Java 17) and the DuckDB 1.5.5 venv (`SLUICE_DUCKDB15_PYTHON`, else
/// `.venv-duckdb15/bin/python`); `scripts/install-deps.sh` installs all of them. About a minute per source, most of it
/// Spark (one local[1] session per run).
@Suite(.serialized) struct TypeMatrixTests {
    @Test(.needsPostgres, .timeLimit(.minutes(6)))
    func postgresTypesAreExactInEverySinkAndEngine() throws {
        try TypeMatrixRun(source: "postgres", url: try TestServers.postgres(), readme: "connectors/postgres/README.md")
            .execute()
    }

    @Test(.needsMySQL, .timeLimit(.minutes(6)))
    func mariadbTypesAreExactInEverySinkAndEngine() throws {
        try TypeMatrixRun(source: "mysql", url: try TestServers.mysql(), readme: "connectors/mysql/README.md")
            .execute()
    }
}

/// One harness run: its work folder (kept when it fails, for the outputs and the pipeline's stderr) and its output.
struct TypeMatrixRun {
    let source: String
    let url: String
    let readme: String

    /// The DuckDB 1.5.5 venv's interpreter: `SLUICE_DUCKDB15_PYTHON`, else the repository's `.venv-duckdb15`.
    static func duckdb15Python() throws -> String {
        if let path = TestEnvironment.value("SLUICE_DUCKDB15_PYTHON") { return path }
        let venv = TestEnvironment.repositoryRoot.appendingPathComponent(".venv-duckdb15/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: venv) else {
            throw TestSetupError(
                "no DuckDB 1.5.5 Python: \(venv) does not exist and SLUICE_DUCKDB15_PYTHON is not set; run "
                    + "scripts/install-deps.sh (it fills .venv-duckdb15 from scripts/requirements-duckdb15.txt)")
        }
        return venv
    }

    func execute() throws {
        let work = try TestEnvironment.temporaryFolder("sluice-type-matrix-\(source)")
        let script = TestEnvironment.repositoryRoot.appendingPathComponent("Tests/SluiceTestSupport/Readers/type_matrix.py")
        let arguments = [
            script.path, "--source", source, "--url", url,
            "--sluice", try TestEnvironment.sluiceExecutable().path,
            "--work", work.appendingPathComponent("run").path,
            "--duckdb15-python", try Self.duckdb15Python(),
            "--check-docs", TestEnvironment.repositoryRoot.appendingPathComponent(readme).path,
        ]
        let tools = Tools(directory: work.path)
        let result = try tools.run(try TestEnvironment.python(), arguments, name: "type-matrix", timeout: 330)
        if result.status == 3 {
            throw TestSetupError(
                "the readers' Python lacks a package (\(result.errors.suffix(400))): run scripts/install-deps.sh")
        }
        #expect(
            result.status == 0,
            """
            type_matrix.py --source \(source) exited \(result.status) (work folder kept: \(work.path)):
            \(result.output)
            --- stderr (last lines):
            \(result.errors.suffix(4000))
            """)
        if result.status == 0 { try? FileManager.default.removeItem(at: work) }
    }
}

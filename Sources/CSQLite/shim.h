#include <sqlite3.h>
#include <stddef.h>

/// SQLITE_TRANSIENT is a macro casting -1 to a function pointer, which Swift cannot import:
/// binding with this destructor makes SQLite copy the value before the bind call returns.
static inline sqlite3_destructor_type sluice_sqlite_transient(void) {
    return SQLITE_TRANSIENT;
}

/// Turns off SQLite's memory statistics, which take a process-wide mutex on every allocation.
/// sqlite3_config is variadic, so Swift cannot call it; this only works before SQLite initializes.
static inline int sluice_sqlite_disable_memory_statistics(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

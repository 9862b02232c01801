#include <stddef.h>
#include <mariadb/mysql.h>

/// Sends a command without reading its response (COM_BINLOG_DUMP / COM_BINLOG_DUMP_GTID start a stream of
/// packets read with mysql_net_read_packet). The command is a plain code because libmariadb's enum lacks
/// MySQL's COM_BINLOG_DUMP_GTID (0x1e).
static inline int cmariadb_send_command(MYSQL *mysql, unsigned int command, const unsigned char *arg, size_t length) {
    return mysql->methods->db_command(mysql, (enum enum_server_command)command, (const char *)arg, length, 1, (void *)0);
}

/// The bytes of the packet the last mysql_net_read_packet() returned.
static inline const unsigned char *cmariadb_packet_data(MYSQL *mysql) {
    return mysql->net.read_pos;
}

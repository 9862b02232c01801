-- Run once by the mariadb image on an empty data dir (mounted into /docker-entrypoint-initdb.d).
-- The image creates the `sluice` user (MARIADB_USER) with rights on the `demo` database only;
-- reading the binlog also needs these global privileges (MariaDB 10.11 names).
GRANT RELOAD, REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR, SELECT ON *.* TO 'sluice'@'%';
FLUSH PRIVILEGES;

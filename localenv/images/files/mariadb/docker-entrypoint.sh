#!/bin/bash
# Entrypoint of the locally built docker.io/library/mariadb image (recipe: localenv/images/mariadb.py).
#
# Written for this project (not a copy of MariaDB/mariadb-docker's script); it implements the documented contract
# of the official image's entrypoint that a pod spec relies on:
#   - `docker-entrypoint.sh [-options]` runs `mariadbd [-options]`; any other command is exec'd as it is;
#   - MARIADB_* variables, each with its MYSQL_* alias and a *_FILE form (VAR and VAR_FILE are exclusive):
#     ROOT_PASSWORD, ROOT_PASSWORD_HASH, ALLOW_EMPTY_ROOT_PASSWORD (MYSQL_ALLOW_EMPTY_PASSWORD),
#     RANDOM_ROOT_PASSWORD, ROOT_HOST (default %), DATABASE, USER, PASSWORD, PASSWORD_HASH,
#     INITDB_SKIP_TZINFO, MYSQL_LOCALHOST_USER / MYSQL_LOCALHOST_GRANTS, HEALTHCHECK_GRANTS, AUTO_UPGRADE;
#   - an empty datadir is initialised once (mariadb-install-db, a temporary socket-only server, time zones, users,
#     then /docker-entrypoint-initdb.d/*.sh|.sql|.sql.gz|.sql.xz|.sql.zst in order) and never again;
#   - healthcheck@127.0.0.1/::1/localhost with a random password written to $DATADIR/.my-healthcheck.cnf, which
#     healthcheck.sh reads;
#   - started as root it chowns the datadir and socket directory to mysql and steps down with gosu; started as
#     uid 999 (a pod's runAsUser) it does neither.
# Added: the server's tmpdir is written to once at start (see the comment in main: an overlayfs quirk seen here).
# Not implemented (each stops the container with an error instead of being silently ignored): replication
# (MARIADB_REPLICATION_*, MARIADB_MASTER_*), restoring a mariadb-backup tarball from /docker-entrypoint-initdb.d,
# and the system-table backup the official script takes before an automatic upgrade.
set -eo pipefail
shopt -s nullglob

log() { printf '%s [%s] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$1" "${*:2}"; }
note() { log Note "$@"; }
warn() { log Warn "$@" >&2; }
die() { log ERROR "$@" >&2; exit 1; }

# from_env_or_file VAR [default]: VAR, else the contents of the file named by VAR_FILE, else default.
from_env_or_file() {
	local var=$1 file="$1_FILE" value=${2:-}
	if [ -n "${!var:-}" ] && [ -n "${!file:-}" ]; then die "Both $var and $file are set (but are exclusive)"; fi
	if [ -n "${!var:-}" ]; then value=${!var}; elif [ -n "${!file:-}" ]; then value=$(<"${!file}"); fi
	export "$var=$value"
	unset "$file"
}
# paired NAME [default]: MARIADB_NAME wins over MYSQL_NAME; afterwards both hold the same value.
paired() {
	local my="MYSQL_$1" ma="MARIADB_$1"
	from_env_or_file "$my" "${2:-}"
	from_env_or_file "$ma" "${!my}"
	export "$my=${!ma}"
}
flag() {  # flag MARIADB_NAME MYSQL_ALIAS: no _FILE form
	local ma=$1 my=$2
	export "$ma=${!ma:-${!my:-}}" "$my=${!ma:-${!my:-}}"
}
quote() {  # a value fit for a single-quoted SQL string literal
	local s=${1//\\/\\\\}
	s=${s//$'\n'/\\n}
	printf '%s' "${s//\'/\\\'}"
}
server_option() {  # server_option NAME mariadbd ARGS...: the effective value, defaults included
	local name=$1; shift
	"$@" --verbose --help 2>/dev/null | awk -v n="$name" '$1 == n && /^[^ \t]/ { sub(/^[^ \t]+[ \t]+/, ""); print; exit }'
}
client() {  # client [--no-root-password] ARGS...: the root account over the socket
	local password=$MARIADB_ROOT_PASSWORD
	if [ "$1" = --no-root-password ]; then password=; shift; fi
	MYSQL_PWD=$password mariadb --protocol=socket -uroot -hlocalhost --socket="$SOCKET" \
		${MARIADB_DATABASE:+--database="$MARIADB_DATABASE"} "$@"
}
# the mysql=( ... ) array init scripts of the official image may use
mysql=( client )
random_password() { pwgen --numerals --capitalize --symbols --remove-chars="=#'\\\"" -1 32; }

start_temporary_server() {
	"$@" --skip-networking --default-time-zone=SYSTEM --socket="$SOCKET" --wsrep_on=OFF --expire-logs-days=0 \
		--loose-innodb_buffer_pool_load_at_startup=0 &
	SERVER_PID=$!
	note "Waiting for server startup"
	local no_pw=() i
	[ -n "$EXISTING" ] || no_pw=(--no-root-password)
	for i in {30..0}; do
		if client "${no_pw[@]}" --database=mysql <<<'SELECT 1' &>/dev/null; then return 0; fi
		kill -0 "$SERVER_PID" 2>/dev/null || die "Unable to start server."
		sleep 1
	done
	die "Unable to start server."
}
stop_temporary_server() { kill "$SERVER_PID"; wait "$SERVER_PID"; }

healthcheck_users_sql() {  # prints the SQL and writes .my-healthcheck.cnf
	local password grant=${MARIADB_HEALTHCHECK_GRANTS:-USAGE} host
	password=$(random_password)
	for host in 127.0.0.1 ::1 localhost; do
		printf "CREATE USER IF NOT EXISTS healthcheck@'%s' IDENTIFIED BY '%s';\n" "$host" "$(quote "$password")"
		printf "SET PASSWORD FOR healthcheck@'%s' = PASSWORD('%s');\n" "$host" "$(quote "$password")"
		printf "GRANT %s ON *.* TO healthcheck@'%s';\n" "$grant" "$host"
	done
	(umask 0077; printf '[mariadb-client]\nport=%s\nsocket=%s\nuser=healthcheck\npassword=%s\nprotocol=tcp\n' \
		"$PORT" "$SOCKET" "$password" > "$DATADIR/.my-healthcheck.cnf")
}

run_init_files() {
	local f
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
			*.sh) if [ -x "$f" ]; then note "$0: running $f"; "$f"; else note "$0: sourcing $f"; . "$f"; fi ;;
			*.sql) note "$0: running $f"; client < "$f" ;;
			*.sql.gz) note "$0: running $f"; gunzip -c "$f" | client ;;
			*.sql.xz) note "$0: running $f"; xzcat "$f" | client ;;
			*.sql.zst) note "$0: running $f"; zstd -dc "$f" | client ;;
			*) warn "$0: ignoring $f" ;;
		esac
	done
}

initialise() {
	ls /docker-entrypoint-initdb.d/ >/dev/null
	note "Initializing database files"
	mariadb-install-db --datadir="$DATADIR" --rpm --auth-root-authentication-method=normal "${@:2}" \
		--skip-test-db --default-time-zone=SYSTEM --enforce-storage-engine= --skip-log-bin --expire-logs-days=0 \
		--loose-innodb_buffer_pool_load_at_startup=0 --loose-innodb_buffer_pool_dump_at_shutdown=0
	note "Database files initialized"
	note "Starting temporary server"
	start_temporary_server "$@"
	note "Temporary server started."
	if [ -z "$MARIADB_INITDB_SKIP_TZINFO" ]; then
		mariadb-tzinfo-to-sql --skip-write-binlog /usr/share/zoneinfo | MARIADB_DATABASE= client --no-root-password --database=mysql
	fi
	if [ -n "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
		MARIADB_ROOT_PASSWORD=$(random_password)
		export MARIADB_ROOT_PASSWORD MYSQL_ROOT_PASSWORD=$MARIADB_ROOT_PASSWORD
		note "GENERATED ROOT PASSWORD: $MARIADB_ROOT_PASSWORD"
	fi
	local root_pw identified sql
	root_pw=$(quote "$MARIADB_ROOT_PASSWORD")
	if [ -n "$MARIADB_ROOT_PASSWORD_HASH" ]; then
		identified="IDENTIFIED BY PASSWORD '$MARIADB_ROOT_PASSWORD_HASH'"
	else
		identified="IDENTIFIED BY '$root_pw'"
	fi
	sql="SET @@SESSION.SQL_LOG_BIN=0;
SET @@SESSION.SQL_MODE=REPLACE(@@SESSION.SQL_MODE, 'NO_BACKSLASH_ESCAPES', '');
DROP USER IF EXISTS root@'127.0.0.1', root@'::1';
EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\\'', @@hostname, '\\'');
"
	[ -n "$MARIADB_ROOT_PASSWORD_HASH" ] || sql+="SET PASSWORD FOR 'root'@'localhost' = PASSWORD('$root_pw');
"
	if [ -n "$MARIADB_ROOT_HOST" ] && [ "$MARIADB_ROOT_HOST" != localhost ]; then
		sql+="CREATE USER 'root'@'$MARIADB_ROOT_HOST' $identified;
GRANT ALL ON *.* TO 'root'@'$MARIADB_ROOT_HOST' WITH GRANT OPTION;
GRANT PROXY ON ''@'%' TO 'root'@'$MARIADB_ROOT_HOST' WITH GRANT OPTION;
"
	fi
	if [ -n "$MARIADB_MYSQL_LOCALHOST_USER" ]; then
		sql+="CREATE USER mysql@localhost IDENTIFIED VIA unix_socket;
"
		[ -z "$MARIADB_MYSQL_LOCALHOST_GRANTS" ] || sql+="GRANT $MARIADB_MYSQL_LOCALHOST_GRANTS ON *.* TO mysql@localhost;
"
	fi
	sql+="$(healthcheck_users_sql)
SET @@SESSION.SQL_LOG_BIN=1;
"
	if [ -n "$MARIADB_DATABASE" ]; then
		note "Creating database ${MARIADB_DATABASE}"
		sql+="CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\`;
"
	fi
	if [ -n "$MARIADB_USER" ] && { [ -n "$MARIADB_PASSWORD" ] || [ -n "$MARIADB_PASSWORD_HASH" ]; }; then
		note "Creating user ${MARIADB_USER}"
		if [ -n "$MARIADB_PASSWORD_HASH" ]; then
			sql+="CREATE USER '$MARIADB_USER'@'%' IDENTIFIED BY PASSWORD '$MARIADB_PASSWORD_HASH';
"
		else
			sql+="CREATE USER '$MARIADB_USER'@'%' IDENTIFIED BY '$(quote "$MARIADB_PASSWORD")';
"
		fi
		if [ -n "$MARIADB_DATABASE" ]; then
			note "Giving user ${MARIADB_USER} access to schema ${MARIADB_DATABASE}"
			sql+="GRANT ALL ON \`${MARIADB_DATABASE//_/\\_}\`.* TO '$MARIADB_USER'@'%';
"
		fi
	fi
	note "Securing system users (equivalent to running mysql_secure_installation)"
	MARIADB_DATABASE= client --no-root-password --database=mysql --binary-mode <<<"$sql"
	echo
	run_init_files
	if [ -n "$MARIADB_ROOT_PASSWORD_HASH" ]; then
		note "Setting root@localhost password hash"
		MARIADB_DATABASE= client --no-root-password --binary-mode <<<"SET @@SESSION.SQL_LOG_BIN=0;
SET PASSWORD FOR 'root'@'localhost' = '$MARIADB_ROOT_PASSWORD_HASH';"
	fi
	note "Stopping temporary server"
	stop_temporary_server
	note "Temporary server stopped"
	echo
	note "MariaDB init process done. Ready for start up."
	echo
}

upgrade_needed() {  # the datadir was written by an older major.minor, or lacks the healthcheck config
	[ -f "$DATADIR/mysql_upgrade_info" ] || return 0
	[ -f "$DATADIR/.my-healthcheck.cnf" ] || return 0
	local ours theirs
	ours=${MARIADB_VERSION##*:}; ours=${ours%%[-+~]*}
	IFS='.-' read -ra ours <<<"$ours"
	IFS='.-' read -ra theirs < "$DATADIR/mysql_upgrade_info" || true
	[ "${#ours[@]}" -ge 2 ] && [ "${#theirs[@]}" -ge 2 ] || return 0
	(( theirs[0] < ours[0] || (theirs[0] == ours[0] && theirs[1] < ours[1]) ))
}

upgrade() {
	if [ -z "$MARIADB_AUTO_UPGRADE" ] || [ "$MARIADB_AUTO_UPGRADE" = 0 ]; then
		note "MariaDB upgrade (mariadb-upgrade or creating healthcheck users) required, but skipped due to \$MARIADB_AUTO_UPGRADE setting"
		return
	fi
	note "Starting temporary server"
	start_temporary_server "$@" --skip-grant-tables --loose-innodb_buffer_pool_dump_at_shutdown=0 --skip-slave-start
	if [ ! -f "$DATADIR/.my-healthcheck.cnf" ]; then
		note "Creating healthcheck users"
		MARIADB_DATABASE= client --no-root-password --binary-mode <<<"SET @@SESSION.SQL_LOG_BIN=0;
FLUSH PRIVILEGES;
$(healthcheck_users_sql)"
	fi
	note "Starting mariadb-upgrade"
	mariadb-upgrade --upgrade-system-tables --socket="$SOCKET"
	note "Finished mariadb-upgrade"
	stop_temporary_server
}

wants_help() {
	local arg
	for arg; do case "$arg" in -'?'|--help|--print-defaults|-V|--version) return 0 ;; esac; done
	return 1
}

main() {
	if [ "${1:0:1}" = - ]; then set -- mariadbd "$@"; fi
	if { [ "$1" = mariadbd ] || [ "$1" = mysqld ]; } && ! wants_help "$@"; then
		note "Entrypoint script for MariaDB Server ${MARIADB_VERSION} started."
		local errors
		errors=$("$@" --verbose --help 2>&1 >/dev/null) \
			|| die $'mariadbd failed while attempting to check config\n\tcommand was: '"$* --verbose --help"$'\n\t'"$errors"
		DATADIR=$(server_option datadir "$@"); SOCKET=$(server_option socket "$@"); PORT=$(server_option port "$@")
		paired ROOT_HOST %
		paired DATABASE
		paired USER
		paired PASSWORD
		paired ROOT_PASSWORD
		local v
		for v in PASSWORD_HASH ROOT_PASSWORD_HASH REPLICATION_USER REPLICATION_PASSWORD REPLICATION_PASSWORD_HASH MASTER_HOST; do
			from_env_or_file "MARIADB_$v"
		done
		flag MARIADB_ALLOW_EMPTY_ROOT_PASSWORD MYSQL_ALLOW_EMPTY_PASSWORD
		flag MARIADB_RANDOM_ROOT_PASSWORD MYSQL_RANDOM_ROOT_PASSWORD
		flag MARIADB_INITDB_SKIP_TZINFO MYSQL_INITDB_SKIP_TZINFO
		EXISTING=
		[ ! -d "$DATADIR/mysql" ] || EXISTING=true
		mkdir -p "$DATADIR"
		if [ "$(id -u)" = 0 ]; then
			find "$DATADIR" \! -user mysql -exec chown mysql: '{}' +
			find "${SOCKET%/*}" -maxdepth 0 \! -user mysql -exec chown mysql: '{}' \;
			note "Switching to dedicated user 'mysql'"
			exec gosu mysql "${BASH_SOURCE[0]}" "$@"
		fi
		# Copy the server's tmpdir up into the container's own overlay layer first thing: on this project's nodes
		# (kernel 6.18 overlayfs, runc 1.1.5), when a process is exec'd into the container (exec probe, kubectl exec)
		# while the directory is still only in the image's layer, O_TMPFILE in it fails with ENOENT from then on,
		# and InnoDB cannot create its temporary files ("Unable to create temporary file; errno: 2"). Done here,
		# before any probe can run, the directory is the container's own. Not in the official script.
		local tmpdir
		tmpdir=$(server_option tmpdir "$@")
		rm -f "$(mktemp -p "${tmpdir:-/tmp}" .entrypoint.XXXXXX 2>/dev/null)" 2>/dev/null || true
		if [ -z "$EXISTING" ]; then
			if [ -n "$MARIADB_REPLICATION_USER" ] || [ -n "$MARIADB_MASTER_HOST" ]; then
				die "replication (MARIADB_REPLICATION_USER / MARIADB_MASTER_HOST) is not supported by this locally built image"
			fi
			local backups=(/docker-entrypoint-initdb.d/*.tar.gz /docker-entrypoint-initdb.d/*.tar.xz /docker-entrypoint-initdb.d/*.tar.zst)
			[ "${#backups[@]}" = 0 ] || die "restoring a backup from /docker-entrypoint-initdb.d is not supported by this locally built image"
			if [ -z "$MARIADB_ROOT_PASSWORD" ] && [ -z "$MARIADB_ROOT_PASSWORD_HASH" ] \
				&& [ -z "$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" ] && [ -z "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
				die $'Database is uninitialized and password option is not specified\n\tYou need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ROOT_PASSWORD_HASH, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and MARIADB_RANDOM_ROOT_PASSWORD'
			fi
			if [ -n "$MARIADB_ROOT_PASSWORD_HASH" ] && { [ -n "$MARIADB_ROOT_PASSWORD" ] || [ -n "$MARIADB_ALLOW_EMPTY_ROOT_PASSWORD" ] || [ -n "$MARIADB_RANDOM_ROOT_PASSWORD" ]; }; then
				die "Cannot specify MARIADB_ROOT_PASSWORD_HASH and another MARIADB_ROOT_PASSWORD* option."
			fi
			if [ -n "$MARIADB_PASSWORD" ] && [ -n "$MARIADB_PASSWORD_HASH" ]; then
				die "Cannot specify MARIADB_PASSWORD_HASH and MARIADB_PASSWORD option."
			fi
			initialise "$@"
		elif upgrade_needed; then
			upgrade "$@"
		fi
	fi
	exec "$@"
}

main "$@"

#!/bin/bash
# healthcheck.sh of the locally built docker.io/library/mariadb image (recipe: localenv/images/mariadb.py).
#
# Written for this project (not a copy of MariaDB/mariadb-docker's script); same command line as the official
# image's: tests run in the order given, the script fails on the first failing one, and when no --connect test
# passed it finishes with one. Options:
#   --connect                    the server answers (socket first, then TCP to localhost; a refused login
#                                counts as "answers", like the official script)
#   --innodb_initialized         InnoDB is available
#   --innodb_buffer_pool_loaded  the buffer pool load has completed
#   --galera_online / --galera_ready
#   --mariadbupgrade             no mariadb-upgrade holds the lock on $datadir/mysql_upgrade_info
#   --no-connect                 skip the final connect test
#   --su=USER / --su USER / --su-mysql   re-run as USER through gosu
#   --datadir=DIR, --no-defaults, --defaults-file=F, --defaults-extra-file=F, --defaults-group-suffix=S
# The client reads $datadir/.my-healthcheck.cnf (written by the entrypoint) when it exists.
# Not implemented: the --replication* tests (the script fails naming them).
set -eo pipefail

declare -A defaults=()
no_defaults=
connected=
datadir=/var/lib/mysql
[ ! -f "$datadir/.my-healthcheck.cnf" ] || defaults[extra_file]=$datadir/.my-healthcheck.cnf

client() {
	mariadb ${no_defaults:+--no-defaults} \
		${defaults[file]:+--defaults-file=${defaults[file]}} \
		${defaults[extra_file]:+--defaults-extra-file=${defaults[extra_file]}} \
		${defaults[group_suffix]:+--defaults-group-suffix=${defaults[group_suffix]}} \
		"$@"
}
query() { client --protocol socket -B --skip-column-names -e "$1"; }

connect() {
	local answer
	answer=$(query 'select @@skip_networking' 2>/dev/null) || true
	case "$answer" in 0|1) connected=$answer; return "$answer" ;; esac
	answer=$(client -h localhost --protocol tcp --skip-column-names --batch --skip-print-query-on-error \
		-e 'select @@skip_networking' 2>&1) || true
	case "$answer" in
		0|'ERROR 1820 (HY000)'*|'ERROR 4151 (HY000)'*|'ERROR 1226 (42000)'*|ERROR\ 1[0-9][0-9][0-9]\ \(28000\)*) connected=0 ;;
		1|'ERROR 2002 (HY000)'*) connected=1 ;;
		*) echo "Unknown error $answer" >&2; connected=1 ;;
	esac
	return "$connected"
}
innodb_initialized() {
	[ "$(query "select 1 from information_schema.ENGINES WHERE engine='innodb' AND support in ('YES', 'DEFAULT', 'ENABLED')")" = 1 ]
}
innodb_buffer_pool_loaded() {
	[[ $(query "select VARIABLE_VALUE from information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='Innodb_buffer_pool_load_status'") =~ 'load completed' ]]
}
galera_online() {
	[ "$(query "select VARIABLE_VALUE from information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='WSREP_LOCAL_STATE'")" = 4 ]
}
galera_ready() {
	[ "$(query "select VARIABLE_VALUE from information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='WSREP_READY'")" = ON ]
}
mariadbupgrade() {
	local f="$datadir/mysql_upgrade_info"
	[ -r "$f" ] || return 0
	flock --exclusive --nonblock 9 9<"$f"
}

if [ $# -eq 0 ]; then echo "At least one argument required" >&2; exit 1; fi
while [ $# -gt 0 ]; do
	test=
	case "$1" in
		--su=*) user=${1#*=}; shift; exec gosu "$user" "${BASH_SOURCE[0]}" "$@" ;;
		--su) user=$2; shift 2; exec gosu "$user" "${BASH_SOURCE[0]}" "$@" ;;
		--su-mysql) shift; exec gosu mysql "${BASH_SOURCE[0]}" "$@" ;;
		--datadir=*) datadir=${1#*=} ;;
		--datadir) shift; datadir=$1 ;;
		--no-defaults) defaults=(); no_defaults=1 ;;
		--defaults-file=*|--defaults-extra-file=*|--defaults-group-suffix=*)
			key=${1%%=*}; key=${key#--defaults-}; defaults[${key//-/_}]=${1#*=}; no_defaults= ;;
		--defaults-file|--defaults-extra-file|--defaults-group-suffix)
			key=${1#--defaults-}; defaults[${key//-/_}]=$2; shift; no_defaults= ;;
		--no-connect) connected=0 ;;
		--replication*) echo "healthcheck: $1 is not implemented by this locally built image" >&2; exit 1 ;;
		--connect|--innodb_initialized|--innodb_buffer_pool_loaded|--galera_online|--galera_ready|--mariadbupgrade)
			test=${1#--} ;;
		--*) echo "healthcheck unknown option or test '${1#--}'" >&2; exit 1 ;;
		*) echo "Unknown healthcheck option $1" >&2; exit 1 ;;
	esac
	if [ -n "$test" ] && ! "$test"; then
		echo "healthcheck $test failed" >&2
		exit 1
	fi
	shift
done
if [ "$connected" != 0 ]; then
	connect
	exit $?
fi

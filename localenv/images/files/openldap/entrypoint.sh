#!/bin/sh
# The local environment's directory server: on first start, cn=config from config.ldif and the entries of every
# LDIF file in /fixtures (added through slapd, so the overlays see them); then slapd in the foreground on
# $LDAP_PORT, and with a certificate and key in $TLS (tls.crt, tls.key) on $LDAPS_PORT too.
# Needs LDAP_SUFFIX and LDAP_ADMIN_PASSWORD; keeps everything under /var/lib/ldap (a volume).
set -eu
: "${LDAP_SUFFIX:?}" "${LDAP_ADMIN_PASSWORD:?}" "${LDAP_PORT:=1389}" "${LDAPS_PORT:=1636}"
CONFIG=/var/lib/ldap/config
DATA=/var/lib/ldap/data
SOCKET=/var/lib/ldap/ldapi
TLS=/etc/ldap/tls
LISTEN="ldap://:$LDAP_PORT/"
TLS_SED="/^@TLS@\$/d"
if [ -f "$TLS/tls.crt" ]; then
  LISTEN="$LISTEN ldaps://:$LDAPS_PORT/"
  TLS_SED="s|^@TLS@\$|olcTLSCertificateFile: $TLS/tls.crt\nolcTLSCertificateKeyFile: $TLS/tls.key|"
fi

if [ ! -d "$CONFIG/cn=config" ]; then
  mkdir -p "$CONFIG" "$DATA"
  sed -e "s|@SUFFIX@|$LDAP_SUFFIX|g" -e "s|@DATA@|$DATA|g" -e "$TLS_SED" \
      -e "s|@ROOTPW@|$(slappasswd -s "$LDAP_ADMIN_PASSWORD")|" /etc/ldap/local/config.ldif > /tmp/config.ldif
  slapadd -n0 -F "$CONFIG" -l /tmp/config.ldif
  rm /tmp/config.ldif
  url="ldapi://$(printf %s "$SOCKET" | sed 's|/|%2F|g')"
  slapd -h "$url" -F "$CONFIG"
  for _ in $(seq 50); do [ -S "$SOCKET" ] && break; sleep 0.2; done
  for fixture in /fixtures/*.ldif; do
    [ -e "$fixture" ] || continue
    ldapadd -x -H "$url" -D "cn=admin,$LDAP_SUFFIX" -w "$LDAP_ADMIN_PASSWORD" -f "$fixture" >/dev/null
  done
  kill "$(cat /tmp/slapd.pid)"
  while [ -e /tmp/slapd.pid ]; do sleep 0.2; done
fi
exec slapd -d 0 -h "$LISTEN" -F "$CONFIG"

#!/bin/sh
# Starts redis-server in the redis container (compose/compose.yaml) with the users of
# redis/users.acl: passwords from the secret files, hashed (#<SHA-256>), the key prefix from
# WEIGHTS_PREFIX. The configuration goes to redis-server on standard input (`redis-server -`), so
# it is on no command line (`docker inspect`, ps) and in no file; arguments are passed on, e.g.
# `--appendonly yes`. Runs as root before the image's entrypoint drops to the redis user.
#
#   REDIS_ACL_TEMPLATE         default: users.acl next to this script
#   REDIS_PASSWORD_FILE        the services' password (default /run/secrets/redis_password)
#   REDIS_ADMIN_PASSWORD_FILE  the operators' password (default /run/secrets/redis_admin_password)
#   REDIS_EXPORTER_PASSWORD_FILE  the monitoring exporter's password (INFO only; default
#                              /run/secrets/redis_exporter_password; absent: a random one nobody knows)
#   WEIGHTS_PREFIX             keys and channels the service user may use (default recsys)
set -eu

here=$(dirname "$0")
template=${REDIS_ACL_TEMPLATE:-$here/users.acl}
prefix=${WEIGHTS_PREFIX:-recsys}

fail() { echo "redis entrypoint: $*" >&2; exit 1; }

case $prefix in
    *[!A-Za-z0-9._-]*|'') fail "WEIGHTS_PREFIX='$prefix': use letters, digits, '.', '_' or '-'" ;;
esac
[ -r "$template" ] || fail "cannot read the ACL template $template"

# "#<sha256>" of the password in file $1: its content without trailing newlines (and a final CR),
# as the services read it (common/redisconf.py).
password_hash() {
    [ -r "$1" ] || fail "cannot read the password file $1 (create the secrets: make compose-secrets)"
    pw=$(cat "$1")
    pw=${pw%"$(printf '\r')"}
    case $pw in
        '') fail "the password file $1 is empty" ;;
        *[[:space:]]*) fail "the password in $1 contains whitespace or more than one line" ;;
    esac
    printf '#%s' "$(printf '%s' "$pw" | sha256sum | cut -d' ' -f1)"
}

service_hash=$(password_hash "${REDIS_PASSWORD_FILE:-/run/secrets/redis_password}")
admin_hash=$(password_hash "${REDIS_ADMIN_PASSWORD_FILE:-/run/secrets/redis_admin_password}")
exporter_file=${REDIS_EXPORTER_PASSWORD_FILE:-/run/secrets/redis_exporter_password}
if [ -e "$exporter_file" ]; then
    exporter_hash=$(password_hash "$exporter_file")
else
    exporter_hash="#$(head -c 32 /dev/urandom | sha256sum | cut -d' ' -f1)"
fi

users=$(sed -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' \
            -e "s/@PREFIX@/$prefix/g" \
            -e "s/@SERVICE_PASSWORD@/$service_hash/g" \
            -e "s/@ADMIN_PASSWORD@/$admin_hash/g" \
            -e "s/@EXPORTER_PASSWORD@/$exporter_hash/g" "$template")
if printf '%s\n' "$users" | grep -q '@[A-Z_]*@'; then fail "$template: a placeholder is left unfilled"; fi

exec docker-entrypoint.sh redis-server - "$@" <<EOF
$users
EOF

#!/bin/sh
# redis-cli as the admin user inside the redis container, the password read from its secret file
# and handed over in the environment (REDISCLI_AUTH of this process only, not of the container):
#   docker compose -f compose/compose.yaml exec redis sh /usr/local/etc/recsys-redis/cli.sh info
set -eu
file=${REDIS_ADMIN_PASSWORD_FILE:-/run/secrets/redis_admin_password}
[ -r "$file" ] || { echo "cli.sh: cannot read the admin password file $file" >&2; exit 1; }
REDISCLI_AUTH=$(cat "$file")
REDISCLI_AUTH=${REDISCLI_AUTH%"$(printf '\r')"}
export REDISCLI_AUTH
exec redis-cli --user admin "$@"

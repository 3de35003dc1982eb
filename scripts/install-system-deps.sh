#!/usr/bin/env bash
# Installs the system programs the local stack and the test suite run for real
# (nginx, redis-server, prometheus, alertmanager, exporters) through apt, only when they are missing. Idempotent.
set -euo pipefail

missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# Monitoring (monitoring/, README "Monitoring"): Prometheus with promtool, Alertmanager, the nginx
# and Redis exporters (Debian bookworm: 2.42, 0.25, 0.11, 1.45).
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v prometheus-nginx-exporter >/dev/null 2>&1 || missing+=(prometheus-nginx-exporter)
command -v prometheus-redis-exporter >/dev/null 2>&1 || missing+=(prometheus-redis-exporter)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-deps: ${missing[*]} missing and not root; install them with apt-get" >&2
    exit 1
fi
echo "install-system-deps: installing ${missing[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged services on install; the project runs its own instances.
for svc in nginx redis-server prometheus prometheus-alertmanager prometheus-nginx-exporter prometheus-redis-exporter; do
    if command -v service >/dev/null 2>&1; then service "$svc" stop >/dev/null 2>&1 || true; fi
done

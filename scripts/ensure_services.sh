#!/usr/bin/env bash
# Find (or install) the two services of the local scale-out run: PostgreSQL (the Dagster
# instance's run, event-log and schedule storage) and Redis (the Celery broker).
#
# Prints three lines on stdout, suitable for `eval "$(scripts/ensure_services.sh)"`:
#   PG_BIN=/usr/lib/postgresql/15/bin        # initdb, pg_ctl, postgres, createdb
#   REDIS_SERVER=/usr/bin/redis-server
#   PG_RUN_AS=postgres                       # empty when not root (postgres runs as the caller)
# Progress and errors go to stderr. Exits non-zero with a clear message when it cannot.
#
# Same pattern as scripts/ensure_chromium.sh: $PG_BIN / $REDIS_SERVER if set, then the usual
# places; when one is missing it installs Debian's `postgresql` / `redis-server` packages with
# apt-get (as root, or through sudo). Set LEGIS_NO_INSTALL=1 to forbid installing. Installing only
# puts the binaries in place: the services scripts/scale_services.sh starts run as the caller's
# own processes on non-default ports under a temporary directory, never as system services.
# Postgres refuses to run as root: as root, the server runs as the unprivileged user `postgres`
# (created by Debian's package; created here if missing).
set -euo pipefail

log() { echo "ensure_services: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [[ -n "${PG_BIN:-}" && ! -x "${PG_BIN}/pg_ctl" ]]; then
    die "PG_BIN=$PG_BIN has no executable pg_ctl"
fi
if [[ -n "${REDIS_SERVER:-}" && ! -x "${REDIS_SERVER}" ]]; then
    die "REDIS_SERVER=$REDIS_SERVER is not an executable file"
fi

find_pg_bin() {
    if [[ -n "${PG_BIN:-}" ]]; then echo "$PG_BIN"; return 0; fi
    local d
    # Debian keeps the server binaries out of the PATH, one directory per major version
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$d/pg_ctl" && -x "$d/initdb" && -x "$d/postgres" ]]; then echo "$d"; return 0; fi
    done
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"; return 0
    fi
    return 1
}

find_redis() {
    if [[ -n "${REDIS_SERVER:-}" ]]; then echo "$REDIS_SERVER"; return 0; fi
    if command -v redis-server >/dev/null 2>&1; then command -v redis-server; return 0; fi
    return 1
}

apt_install() {
    [[ "${LEGIS_NO_INSTALL:-0}" == "1" ]] && die "$* not found and LEGIS_NO_INSTALL=1"
    command -v apt-get >/dev/null 2>&1 \
        || die "$* not found and apt-get is unavailable; install PostgreSQL and Redis, or set PG_BIN and REDIS_SERVER"
    local sudo=""
    if [[ "$(id -u)" != "0" ]]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo="sudo -n"
        else
            die "$* not found; installing needs root: run 'apt-get install -y $*' as root"
        fi
    fi
    log "installing Debian packages $* (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    # never start the system-wide services the packages ship: only the binaries are needed
    local policy=/usr/sbin/policy-rc.d created_policy=0
    if [[ ! -e $policy && -z "$sudo" ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
    fi
    local rc=0
    { $sudo apt-get -o DPkg::Lock::Timeout=600 update >&2 \
        && $sudo apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$@" >&2; } || rc=$?
    [[ $created_policy == 1 ]] && rm -f "$policy"
    [[ $rc == 0 ]] || die "apt-get install $* failed (is the Debian mirror reachable?)"
}

pg_bin="$(find_pg_bin || true)"
redis="$(find_redis || true)"
missing=()
[[ -z "$pg_bin" ]] && missing+=(postgresql)
[[ -z "$redis" ]] && missing+=(redis-server)
if (( ${#missing[@]} )); then
    apt_install "${missing[@]}"
    pg_bin="$(find_pg_bin || true)"
    redis="$(find_redis || true)"
fi
[[ -n "$pg_bin" ]] || die "PostgreSQL (initdb, pg_ctl) is still missing after installing"
[[ -n "$redis" ]] || die "redis-server is still missing after installing"

run_as=""
if [[ "$(id -u)" == "0" ]]; then
    run_as=postgres
    if ! id -u "$run_as" >/dev/null 2>&1; then
        log "creating the unprivileged system user $run_as (postgres refuses to run as root)"
        useradd --system --no-create-home --shell /usr/sbin/nologin "$run_as" \
            || die "could not create the user $run_as"
    fi
    command -v runuser >/dev/null 2>&1 || die "runuser is missing (util-linux); it runs postgres as $run_as"
fi

"$pg_bin/postgres" --version >/dev/null 2>&1 || die "$pg_bin/postgres does not run"
"$redis" --version >/dev/null 2>&1 || die "$redis does not run"

echo "PG_BIN=$pg_bin"
echo "REDIS_SERVER=$redis"
echo "PG_RUN_AS=$run_as"

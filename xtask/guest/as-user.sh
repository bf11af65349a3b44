#!/bin/sh
# Usage: as-user CMD [ARGS...]
# Runs CMD as the unprivileged user "user" (uid 1000, gid 1000, no other
# groups). Busybox's setpriv lacks --reuid, so this goes through su.
[ $# -gt 0 ] || { echo "usage: as-user CMD [ARGS...]" >&2; exit 2; }
exec su -s /bin/sh -c 'exec "$0" "$@"' -- user "$@"

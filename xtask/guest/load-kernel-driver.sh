#!/bin/sh
# Usage: load-kernel-driver SET...
# Loads a module set (e1000, e1000e, igb, pktgen, vfio): the modules listed
# in /etc/modules.d/SET, dependencies first, skipping those already loaded.
st=0
for set in "$@"; do
    list=/etc/modules.d/$set
    if [ ! -f "$list" ]; then
        echo "load-kernel-driver: unknown set $set (have: $(ls /etc/modules.d | tr '\n' ' '))" >&2
        st=1
        continue
    fi
    while read -r name path; do
        [ -d "/sys/module/$name" ] && continue
        insmod "/lib/modules/$path" || st=1
    done <"$list"
done
exit $st

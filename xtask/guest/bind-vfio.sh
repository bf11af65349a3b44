#!/bin/sh
# Usage: bind-vfio PCI...
# Hands each PCI device (e.g. 0000:00:03.0) to vfio-pci and prints its
# group device node.
st=0
for dev in "$@"; do
    d=/sys/bus/pci/devices/$dev
    if [ ! -e "$d" ]; then echo "bind-vfio: no device $dev" >&2; st=1; continue; fi
    [ -e "$d/driver" ] && echo "$dev" >"$d/driver/unbind"
    echo vfio-pci >"$d/driver_override"
    echo "$dev" >/sys/bus/pci/drivers_probe
    if [ "$(basename "$(readlink "$d/driver")")" = vfio-pci ]; then
        echo "bind-vfio: $dev -> /dev/vfio/$(basename "$(readlink "$d/iommu_group")")"
    else
        echo "bind-vfio: $dev did not bind to vfio-pci" >&2
        st=1
    fi
done
exit $st

#!/bin/sh
# Usage: unbind-vfio PCI...
# Releases each device from vfio-pci and lets the kernel probe its own
# driver again (if that driver is loaded).
for dev in "$@"; do
    d=/sys/bus/pci/devices/$dev
    [ -e "$d/driver" ] && echo "$dev" >"$d/driver/unbind"
    echo >"$d/driver_override"
    echo "$dev" >/sys/bus/pci/drivers_probe
done

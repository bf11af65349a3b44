#!/bin/sh
# /init of the bench guest: mount the virtual filesystems, load the vfio
# modules, bind the NICs named by `bind=` on the kernel command line to
# vfio-pci (`bind=all`, the default, binds every Intel NIC; `bind=none` none),
# then hand the console to the guest agent.
export PATH=/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/hugepages /dev/pts /tmp /run
mount -t hugetlbfs hugetlbfs /dev/hugepages
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
ip link set lo up
load-kernel-driver vfio || echo "init: loading the vfio modules failed"

bind=all
for arg in $(cat /proc/cmdline); do
    case "$arg" in bind=*) bind=${arg#bind=} ;; esac
done
case "$bind" in
    all) devs=$(list-nics) ;;
    none | "") devs= ;;
    *) devs=$(echo "$bind" | tr , ' ') ;;
esac
[ -n "$devs" ] && bind-vfio $devs

# A session with the serial port as controlling terminal lets the agent use
# job control, so background jobs keep the default SIGINT disposition.
exec setsid cttyhack /bin/guest-agent

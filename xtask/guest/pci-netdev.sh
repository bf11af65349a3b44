#!/bin/sh
# Usage: pci-netdev PCI
# Prints the kernel network interface name of a PCI device (empty if none).
ls "/sys/bus/pci/devices/$1/net" 2>/dev/null

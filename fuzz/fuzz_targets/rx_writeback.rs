//! A receive descriptor as the device may write it, any bits at all,
//! through the driver's write-back decoding (format, DD/length rules,
//! checksum and VLAN verdicts).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vfio_e1000::fuzzing::fuzz_rx_writeback(data);
});

//! A frame off the wire, any bytes at all, through what the command does
//! with received frames: the tcpdump-style summary, the ARP/ICMP responder
//! of `e1000 ping`, the echo rule and the Internet checksum.

#![no_main]

use libfuzzer_sys::fuzz_target;

/// The responder's addresses.
const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const IP: [u8; 4] = [10, 11, 12, 2];

fuzz_target!(|frame: &[u8]| {
    let _ = e1000_wire::summary(frame);
    let _ = e1000_wire::checksum(frame);
    let _ = e1000_wire::reply_to(frame, IP, MAC);
    let mut echoed = frame.to_vec();
    if e1000_wire::echo_in_place(&mut echoed, MAC) {
        // The echo rule rewrites the addresses only.
        assert_eq!(echoed.len(), frame.len());
        assert_eq!(&echoed[6..12], &MAC);
        assert_eq!(&echoed[12..], &frame[12..]);
    }
});

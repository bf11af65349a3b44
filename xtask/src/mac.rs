//! MAC addresses: the one type the guest's configuration and the frames on
//! its links share.

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// A 48-bit MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// The bench's MAC for NIC `index`: `52:54:00:12:34:5N`.
    pub fn nic(index: usize) -> Mac {
        Mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56 + index as u8])
    }
    /// The MAC the host peer uses as source (locally administered).
    pub const HOST: Mac = Mac([0x02, 0x00, 0x00, 0x00, 0x00, 0x01]);
    /// The broadcast address.
    pub const BROADCAST: Mac = Mac([0xff; 6]);
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Mac {
    type Err = Error;
    fn from_str(s: &str) -> Result<Mac> {
        let parts: Vec<_> = s.split(':').collect();
        let mut mac = [0; 6];
        if parts.len() != 6 {
            return Err(Error::msg(format!("bad MAC address {s:?}")));
        }
        for (b, p) in mac.iter_mut().zip(parts) {
            *b = u8::from_str_radix(p, 16)
                .map_err(|_| Error::msg(format!("bad MAC address {s:?}")))?;
        }
        Ok(Mac(mac))
    }
}

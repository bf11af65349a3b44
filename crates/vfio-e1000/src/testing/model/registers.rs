//! The model's register file as the driver reaches it ([`Registers`]):
//! what each read and write does.

use super::*;

impl Registers for ModelNic {
    fn read(&self, reg: u32) -> u32 {
        let mut st = self.state();
        st.reads += 1;
        if st.gone {
            return u32::MAX;
        }
        if let Some((q, frame)) = st.on_head_read.take() {
            if reg == self.kind.rx_block(q) + HEAD {
                st.deliver(self.kind, q, &frame, false);
            } else {
                st.on_head_read = Some((q, frame));
            }
        }
        let v = st.reg(reg);
        match reg {
            STATUS => {
                let ctrl = st.reg(CTRL);
                let up = !st.link_down
                    && match self.kind {
                        // The 82576 needs the PHY to renegotiate (BMCR bit 9 written).
                        Kind::E82576 => st.phy[0] & (1 << 12) != 0,
                        _ => ctrl & CTRL_SLU != 0,
                    };
                if up {
                    v | STATUS_LINK_1000_FD
                } else {
                    v & !STATUS_LINK_1000_FD
                }
            }
            ICR => {
                st.regs.insert(ICR, 0);
                v
            }
            SYSTIML if self.kind.has_clock() => {
                // Reading the low half latches the high half.
                let now = st.systim(self.kind);
                st.regs.insert(SYSTIMH, (now >> 32) as u32);
                now as u32
            }
            TXSTMPH => {
                st.clear_bits(TSYNCTXCTL, TSYNC_VALID);
                v
            }
            RXSTMPH => {
                st.clear_bits(TSYNCRXCTL, TSYNC_VALID);
                v
            }
            _ => v,
        }
    }

    fn write(&self, reg: u32, value: u32) {
        let mut st = self.state();
        st.writes += 1;
        if st.gone {
            return;
        }
        if !st.bench {
            st.log.push((reg, value));
        }
        if st.tx_stuck {
            if let Some(q) = (0..16).find(|&q| reg == self.kind.tx_block(q) + BAL) {
                // The ring is moved under a transmitter that never stopped:
                // it still owes the old ring what it had fetched.
                let block = self.kind.tx_block(q);
                let old = (
                    q,
                    st.ring_base(block),
                    st.reg(block + HEAD) as usize,
                    st.reg(block + TAIL) as usize,
                    (st.reg(block + LEN) / 16) as usize,
                );
                st.stuck_rings.push(old);
            }
            if self.kind == Kind::E82576 && (0..16).any(|q| reg == self.kind.tx_block(q) + DCTL) {
                st.regs.insert(reg, value | DCTL_ENABLE);
                return;
            }
        }
        match reg {
            CTRL if value & CTRL_RST != 0 && self.kind == Kind::E8254x => {
                // QEMU's 8254x model: the bit clears itself and resets
                // nothing; the driver must stop RX, TX and interrupts itself.
                st.regs.insert(CTRL, value & !CTRL_RST);
            }
            CTRL if value & CTRL_RST != 0 => {
                // Every register back to its reset value (zero here), but
                // the receive address keeps what the EEPROM loaded.
                st.regs.clear();
                st.regs.insert(CTRL, value & !CTRL_RST);
            }
            EERD if value & 1 != 0 => {
                let (addr, done) = match self.kind {
                    Kind::E8254x => ((value >> 8) & 0xFF, 1 << 4),
                    _ => ((value >> 2) & 0x3FFF, 1 << 1),
                };
                let word = match addr {
                    0..=2 => u16::from_le_bytes([
                        EEPROM_MAC[2 * addr as usize],
                        EEPROM_MAC[2 * addr as usize + 1],
                    ]),
                    _ => 0xFFFF,
                };
                st.regs.insert(EERD, (word as u32) << 16 | done);
            }
            MDIC => {
                let phy_reg = ((value >> 16) & 0x1F) as usize;
                let phy_addr = (value >> 21) & 0x1F;
                let op = (value >> 26) & 3;
                let mut out = value & !0xFFFF | 1 << 28; // READY
                if phy_addr != 1 {
                    out |= 1 << 30; // ERROR: no PHY there
                } else if op == 1 {
                    st.phy[phy_reg] = value as u16 & !(1 << 9); // restart self-clears
                } else {
                    out |= st.phy[phy_reg] as u32;
                }
                st.regs.insert(MDIC, out);
            }
            ICR => {
                let v = st.reg(ICR);
                st.regs.insert(ICR, v & !value);
            }
            IMS => {
                let v = st.reg(IMS);
                st.regs.insert(IMS, v | value);
            }
            IMC => {
                let v = st.reg(IMS);
                st.regs.insert(IMS, v & !value);
            }
            EICR if self.kind == Kind::E82576 => {
                let v = st.reg(EICR);
                st.regs.insert(EICR, v & !value);
            }
            EIMS if self.kind == Kind::E82576 => {
                let v = st.reg(EIMS);
                st.regs.insert(EIMS, v | value);
            }
            EIMC if self.kind == Kind::E82576 => {
                let v = st.reg(EIMS);
                st.regs.insert(EIMS, v & !value);
            }
            _ => {
                st.regs.insert(reg, value);
                if let Some(q) = self.tx_queue_of_tail(reg).filter(|_| !st.bench) {
                    self.transmit(&mut st, q);
                }
            }
        }
    }

    fn accesses(&self) -> (u64, u64) {
        let st = self.state();
        (st.reads, st.writes)
    }
}

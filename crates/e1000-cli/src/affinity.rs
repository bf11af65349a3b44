//! Which CPU a thread runs on.

/// Restricts the calling thread to CPU `cpu`.
pub fn pin_current_thread(cpu: usize) -> std::io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: cpu_set_t is plain bits, valid all-zero; CPU_SET writes the bit
    // of `cpu`, checked above to lie inside the set; sched_setaffinity (pid 0:
    // the calling thread) only reads the set, of the size given.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_to_an_allowed_cpu_and_refuses_an_impossible_one() {
        // SAFETY: sched_getcpu has no preconditions.
        let here = unsafe { libc::sched_getcpu() };
        assert!(here >= 0);
        std::thread::spawn(move || {
            pin_current_thread(here as usize).unwrap();
            // SAFETY: as above.
            assert_eq!(unsafe { libc::sched_getcpu() }, here);
        })
        .join()
        .unwrap();
        assert!(pin_current_thread(libc::CPU_SETSIZE as usize).is_err());
    }
}

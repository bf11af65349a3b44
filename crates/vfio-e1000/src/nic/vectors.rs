//! Which interrupt vector wakes which queue, decided in one place from the
//! family's [`VectorPlan`].

use crate::hw::irq::{IrqMode, VectorPlan};
use std::os::fd::RawFd;

/// What an eventfd a queue sleeps on means when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// INTx or MSI: the one vector for every cause; read ICR to know which.
    Shared,
    /// MSI-X: this queue's receive vector (auto-cleared, nothing to ack).
    Rx,
    /// MSI-X: the "other" causes' vector (link changes).
    Link,
    /// The kernel's request to release the device (hot-unplug, unbind).
    Release,
}

/// The eventfds one queue sleeps on, each with its role.
#[derive(Debug, Default, Clone)]
pub(crate) struct QueueVectors {
    pub fds: Vec<RawFd>,
    pub roles: Vec<Role>,
}

impl QueueVectors {
    fn push(&mut self, fd: RawFd, role: Role) {
        self.fds.push(fd);
        self.roles.push(role);
    }
}

/// Assigns the vectors' eventfds (`vector_fds[v]` for vector `v`) and the
/// release request's to `queues` queues: in MSI-X mode each queue sleeps on
/// its RX vector and queue 0 also on the link vector; with one vector
/// (INTx, MSI; one queue) queue 0 sleeps on it. Queue 0 alone watches the
/// release request.
pub(crate) fn assign(
    mode: IrqMode,
    plan: VectorPlan,
    queues: u16,
    vector_fds: &[RawFd],
    release: Option<RawFd>,
) -> Vec<QueueVectors> {
    let mut out = vec![QueueVectors::default(); queues as usize];
    for (v, &fd) in vector_fds.iter().enumerate() {
        let v = v as u32;
        if mode != IrqMode::Msix {
            out[0].push(fd, Role::Shared);
        } else if v == plan.other {
            out[0].push(fd, Role::Link);
        } else if let Some(q) = v.checked_sub(plan.rx_queue0).filter(|q| *q < queues as u32) {
            out[q as usize].push(fd, Role::Rx);
        }
    }
    if let Some(fd) = release {
        out[0].push(fd, Role::Release);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msix_gives_each_queue_its_rx_vector_and_queue0_the_link() {
        // The 82576 layout with 3 queues: RX vectors 0-2, link vector 3.
        let plan = VectorPlan {
            count: 4,
            rx_queue0: 0,
            other: 3,
        };
        let q = assign(IrqMode::Msix, plan, 3, &[10, 11, 12, 13], Some(99));
        assert_eq!(q[0].fds, [10, 13, 99]);
        assert_eq!(q[0].roles, [Role::Rx, Role::Link, Role::Release]);
        assert_eq!(
            (q[1].fds.as_slice(), q[1].roles.as_slice()),
            (&[11][..], &[Role::Rx][..])
        );
        assert_eq!(q[2].fds, [12]);
        // The 82574L: five vectors (RXQ0, RXQ1, TXQ0, TXQ1, other), one queue.
        let plan = VectorPlan {
            count: 5,
            rx_queue0: 0,
            other: 4,
        };
        let q = assign(IrqMode::Msix, plan, 1, &[1, 2, 3, 4, 5], None);
        assert_eq!(q[0].fds, [1, 5]);
        assert_eq!(q[0].roles, [Role::Rx, Role::Link]);
    }

    #[test]
    fn single_vector_is_shared_by_queue0() {
        let q = assign(IrqMode::Msi, VectorPlan::SINGLE, 1, &[7], Some(8));
        assert_eq!(q[0].roles, [Role::Shared, Role::Release]);
        let q = assign(IrqMode::Poll, VectorPlan::NONE, 2, &[], Some(8));
        assert_eq!(q[0].roles, [Role::Release]);
        assert!(q[1].fds.is_empty());
    }
}

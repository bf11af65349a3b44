//! The host's end of the guest NICs' links: test frames and the echo rule,
//! batched socket I/O, the peer that sends and checks, a tiny IPv4
//! responder, real host network stacks on TAP links, and where frames were
//! dropped on the host's side.

pub mod drops;
pub mod frame;
pub mod host_stack;
pub mod mmsg;
pub mod peer;
pub mod responder;

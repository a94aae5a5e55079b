//! The primary's side of shipping.
//!
//! | module     | owns                                                       |
//! |------------|------------------------------------------------------------|
//! | `sender`   | connect, seed, stream, track acks                          |
//! | `ahead`    | chunks read and compressed ahead of the link, on all cores |
//! | `tap`      | continuous chunks sent from the WAL writer's thread        |
//! | `pace`     | a link's chunk size, adapted to where it is cut; its rate cap |
//! | `resume`   | a one-shot shipment that resumes after cuts while it progresses |
//! | `shipper`  | the primary's per-standby shipping tasks and their status  |
//! | `schedule` | every N / cron / continuous                                |
//! | `seed`     | sending a snapshot to a standby that is too far behind     |

pub mod ahead;
pub mod pace;
pub mod resume;
pub mod schedule;
pub mod seed;
pub mod sender;
pub mod shipper;
pub mod tap;

//! The primary's side of shipping.
//!
//! | module     | owns                                                       |
//! |------------|------------------------------------------------------------|
//! | `options`  | what a shipment ships and how: log source, options, mode   |
//! | `error`    | why a shipment failed                                      |
//! | `flight`   | chunks in flight, the standby's acks, the shipment's report |
//! | `link`     | the link: connect, TLS, handshake, messages both ways      |
//! | `sender`   | a shipment's start: the standby's position checked, history, seed; then once or continuous |
//! | `shipment` | a shipment under way: chunks sent up to the window, acks taken |
//! | `once`     | a one-shot shipment, ended by the final acknowledgement   |
//! | `stream`   | a continuous stream: backlog, tap, acks, idle heartbeats  |
//! | `seed`     | sending a snapshot to a standby that is too far behind     |
//! | `ahead`    | chunks read and compressed ahead of the link, on all cores |
//! | `link_tap` | continuous chunks sent from the WAL writer's thread        |
//! | `pace`     | a link's chunk size, adapted to where it is cut; its rate cap |
//! | `resume`   | a one-shot shipment that resumes after cuts while it progresses |
//! | `shipper`  | the primary's per-standby shipping tasks and their status  |
//! | `schedule` | every N / cron / continuous                                |

pub mod ahead;
pub mod error;
pub mod flight;
pub mod link;
pub mod link_tap;
pub mod once;
pub mod options;
pub mod pace;
pub mod resume;
pub mod schedule;
pub mod seed;
pub mod sender;
pub mod shipment;
pub mod shipper;
pub mod stream;

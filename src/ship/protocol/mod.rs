//! The ship protocol: what the primary and the standby both speak.
//!
//! | module    | owns                                                         |
//! |-----------|--------------------------------------------------------------|
//! | `frame`   | the length-prefixed frame codec and its size limits          |
//! | `codes`   | the numbers on the wire: message types, refusal codes, chunk encodings |
//! | `message` | the protocol's messages and their byte layouts               |
//! | `compress`| chunk data compressed (zstd) and checked as it is decompressed |
//! | `auth`    | the shared key and the challenge–response proofs             |
//! | `tls`     | TLS on the link (rustls, mutual) and the stream type         |
//! | `tree`    | the `Downstreams` body: a standby's downstreams, bounded     |
//! | `seed`    | seeding: the snapshot types and the traits the node implements |

pub mod auth;
pub mod codes;
pub mod compress;
pub mod frame;
pub mod message;
pub mod seed;
pub mod tls;
pub mod tree;

//! Built-in benchmarks (`logship bench ...`), usable from the library too.

pub mod lag;
pub mod load;
pub mod ship;
pub mod wal;

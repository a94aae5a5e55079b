//! `logship init`: create a primary data directory.

use super::parse;
use crate::node::datadir;
use crate::wal::writer::DEFAULT_SEGMENT_BYTES;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The data directory to create (absent or empty).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// WAL segment size (a power of two, 4KiB to 1GiB).
    #[arg(long, default_value_t = DEFAULT_SEGMENT_BYTES, value_parser = parse::size)]
    pub segment_bytes: u64,
}

pub fn run(a: InitArgs) -> anyhow::Result<ExitCode> {
    let c = datadir::init(&crate::fs::StdFs, &a.data_dir, a.segment_bytes)?;
    crate::say!(
        "initialised primary data directory {} (system id {:016x}, timeline {}, segment size {} bytes)",
        a.data_dir.display(),
        c.system_id,
        c.timeline,
        c.segment_bytes
    );
    Ok(ExitCode::SUCCESS)
}

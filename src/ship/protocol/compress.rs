//! Compression of chunk data: the setting a link ships with
//! ([`Compression`]), chunk data compressed and decompressed (each chunk
//! says how in its [`ChunkEncoding`]), and the zstd contexts reused on each
//! thread.

use super::codes::ChunkEncoding;
use super::message::MAX_CHUNK_BYTES;

/// Compression of a chunk's data: the setting (`--compress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Zstd { level: i32 },
}

thread_local! {
    /// One zstd compression context per thread and level, reused chunk after
    /// chunk: a fresh context per chunk allocated and freed megabytes each
    /// time, which the allocator kept per thread (RSS grew for minutes in a
    /// soak before it levelled off).
    static COMPRESSOR: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
    /// The same for decompression.
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

fn zstd_compress(data: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if !matches!(&*slot, Some((l, _)) if *l == level) {
            *slot = Some((level, zstd::bulk::Compressor::new(level)?));
        }
        let (_, c) = slot.as_mut().expect("set above");
        c.compress(data)
    })
}

fn zstd_decompress(data: &[u8], capacity: usize) -> std::io::Result<Vec<u8>> {
    DECOMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(zstd::bulk::Decompressor::new()?);
        }
        slot.as_mut().expect("set above").decompress(data, capacity)
    })
}

/// Compresses chunk data: zstd when the setting asks for it and it makes the
/// data smaller, raw otherwise.
pub fn compress(data: &[u8], c: Compression) -> (ChunkEncoding, Vec<u8>) {
    match c {
        Compression::None => (ChunkEncoding::Raw, data.to_vec()),
        Compression::Zstd { level } => match zstd_compress(data, level) {
            Ok(z) if z.len() < data.len() => (ChunkEncoding::Zstd, z),
            _ => (ChunkEncoding::Raw, data.to_vec()),
        },
    }
}

/// Chunk data that does not decompress to what its chunk announces.
#[derive(Debug, thiserror::Error)]
pub enum ChunkDataError {
    #[error("chunk of {raw_len} bytes exceeds the {MAX_CHUNK_BYTES}-byte limit")]
    TooLarge { raw_len: u32 },
    #[error("zstd: {0}")]
    Zstd(#[source] std::io::Error),
    #[error("chunk data is {found} bytes, {raw_len} announced")]
    Length { found: usize, raw_len: u32 },
}

/// Decompresses chunk data into exactly `raw_len` bytes.
///
/// `raw_len` is checked against [`MAX_CHUNK_BYTES`] before the output buffer
/// is allocated.
///
/// # Errors
/// [`ChunkDataError`] when `raw_len` is over the limit or the data does not
/// decompress to exactly `raw_len` bytes.
pub fn decompress(
    encoding: ChunkEncoding,
    data: Vec<u8>,
    raw_len: u32,
) -> Result<Vec<u8>, ChunkDataError> {
    if raw_len as usize > MAX_CHUNK_BYTES {
        return Err(ChunkDataError::TooLarge { raw_len });
    }
    let out = match encoding {
        ChunkEncoding::Zstd => {
            zstd_decompress(&data, raw_len as usize).map_err(ChunkDataError::Zstd)?
        }
        ChunkEncoding::Raw => data,
    };
    if out.len() != raw_len as usize {
        return Err(ChunkDataError::Length {
            found: out.len(),
            raw_len,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_round_trips_and_checks_length() {
        let data = b"abcabcabcabcabcabcabcabcabcabcabcabc".repeat(100);
        let (z, c) = compress(&data, Compression::Zstd { level: 1 });
        assert!(z == ChunkEncoding::Zstd && c.len() < data.len());
        assert_eq!(decompress(z, c.clone(), data.len() as u32).unwrap(), data);
        assert!(decompress(z, c, 10).is_err());
    }
}

//! Length-prefixed frames on the ship link.
//!
//! | offset | size | field                                             |
//! |-------:|-----:|---------------------------------------------------|
//! | 0      | 4    | length of the rest of the frame (type + body), LE |
//! | 4      | 1    | message type                                      |
//! | 5      | n    | body                                              |
//!
//! The length is checked against [`MAX_FRAME_BYTES`] before anything is allocated.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest frame accepted (type + body).
pub const MAX_FRAME_BYTES: usize = 20 << 20;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed by the peer")]
    Closed,
    #[error("frame of {0} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("empty frame")]
    Empty,
    #[error("I/O error on the ship link: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one frame: `(type, body)`.
///
/// # Errors
/// [`FrameError`] for a closed link, an oversized or empty frame, or I/O errors.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<(u8, Vec<u8>), FrameError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(FrameError::Io(e)),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if len > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge(len));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            FrameError::Closed
        } else {
            FrameError::Io(e)
        }
    })?;
    let body = buf.split_off(1);
    Ok((buf[0], body))
}

/// Writes one frame (without flushing).
///
/// # Errors
/// I/O errors of the link.
///
/// # Panics
/// If the body exceeds [`MAX_FRAME_BYTES`] (callers size their chunks below it).
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    kind: u8,
    body: &[u8],
) -> std::io::Result<()> {
    assert!(body.len() < MAX_FRAME_BYTES, "frame body over the limit");
    let mut head = [0u8; 5];
    head[..4].copy_from_slice(&((body.len() + 1) as u32).to_le_bytes());
    head[4] = kind;
    w.write_all(&head).await?;
    w.write_all(body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_limits_hold() {
        let mut buf = Vec::new();
        write_frame(&mut buf, 7, b"hello").await.unwrap();
        let (k, b) = read_frame(&mut &buf[..]).await.unwrap();
        assert_eq!((k, &b[..]), (7, &b"hello"[..]));
        let huge = ((MAX_FRAME_BYTES + 1) as u32).to_le_bytes();
        assert!(matches!(
            read_frame(&mut &huge[..]).await,
            Err(FrameError::TooLarge(_))
        ));
        assert!(matches!(
            read_frame(&mut &[0u8, 0, 0, 0][..]).await,
            Err(FrameError::Empty)
        ));
        assert!(matches!(
            read_frame(&mut &buf[..7]).await,
            Err(FrameError::Closed)
        ));
        assert!(matches!(
            read_frame(&mut &[][..]).await,
            Err(FrameError::Closed)
        ));
    }
}

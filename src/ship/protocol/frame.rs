//! Length-prefixed frames on the ship link.
//!
//! | offset | size | field                                             |
//! |-------:|-----:|---------------------------------------------------|
//! | 0      | 4    | length of the rest of the frame (type + body), LE |
//! | 4      | 1    | message type                                      |
//! | 5      | n    | body                                              |
//!
//! The length is checked against [`MAX_FRAME_BYTES`] before anything is allocated.

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest frame accepted (type + body).
pub const MAX_FRAME_BYTES: usize = 20 << 20;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the link between frames, in order (a TLS peer sent
    /// `close_notify` first).
    #[error("connection closed by the peer")]
    Closed,
    /// The peer closed the link between frames without TLS `close_notify`: an
    /// ordinary end for a peer that just drops the connection, not damage.
    #[error("the peer closed the link (without TLS close_notify)")]
    ClosedWithoutNotify,
    /// The link ended inside a frame: what was read of it is lost.
    #[error("the peer closed the link in the middle of a frame ({read} of {len} bytes read)")]
    ClosedMidFrame { read: usize, len: usize },
    #[error("frame of {len} bytes exceeds the {limit}-byte limit")]
    TooLarge { len: usize, limit: usize },
    #[error("empty frame")]
    Empty,
    /// The peer sent text where a frame was expected: it speaks another
    /// protocol (a Redis client or server, most likely, on the wrong port).
    #[error("the peer sent text ({start:?}…), not a ship frame: it speaks another protocol — a Redis client or server on the wrong port? Shipments go to a standby's --ship-listen address, Redis clients to its --listen address")]
    Text { start: String },
    #[error("I/O error on the ship link: {}", io_text(.0))]
    Io(#[from] std::io::Error),
}

/// An I/O error of a link in our words: the usual kinds by name, anything
/// else as the error says it without the web addresses some libraries append
/// (rustls ends its unexpected-EOF text with a link to its manual; a log line
/// is read by a DBA, not a library user).
pub fn io_text(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::UnexpectedEof => "the peer closed the link".into(),
        K::ConnectionReset => "the peer reset the connection".into(),
        K::BrokenPipe => "the peer closed the link (broken pipe)".into(),
        K::ConnectionRefused => "connection refused".into(),
        K::ConnectionAborted => "the connection was aborted".into(),
        K::TimedOut => "timed out".into(),
        _ => without_urls(&e.to_string()),
    }
}

/// `text` without any `scheme://…` word (and the `: ` or `, see` before it).
pub fn without_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split(' ') {
        if word.contains("://") {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    let trimmed = out.trim_end();
    let trimmed = trimmed
        .strip_suffix(" see")
        .unwrap_or(trimmed)
        .trim_end_matches([':', ',', ';', ' ']);
    trimmed.to_string()
}

/// Largest frame a standby accepts before the primary has authenticated (its
/// `Auth` message is well under a hundred bytes): a peer that has not proved
/// the key cannot make the standby allocate more than this.
pub const MAX_HANDSHAKE_FRAME_BYTES: usize = 64 << 10;
/// Largest frame a primary accepts from a standby (greetings, acknowledgements
/// and refusals: all small).
pub const MAX_STANDBY_FRAME_BYTES: usize = 1 << 20;

/// The length of the frame whose first four bytes are `head`, checked against
/// `limit`.
fn frame_len(head: [u8; 4], limit: usize) -> Result<usize, FrameError> {
    let len = u32::from_le_bytes(head) as usize;
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if len > limit {
        // Four bytes of text read as a length are always far over any limit:
        // RESP starts with one of `+-:$*`, an inline command with a letter.
        let text = head
            .iter()
            .all(|b| b.is_ascii_graphic() || matches!(b, b' ' | b'\r' | b'\n'));
        let opens =
            matches!(head[0], b'+' | b'-' | b':' | b'$' | b'*') || head[0].is_ascii_alphabetic();
        if text && opens {
            return Err(FrameError::Text {
                start: String::from_utf8_lossy(&head).into_owned(),
            });
        }
        return Err(FrameError::TooLarge { len, limit });
    }
    Ok(len)
}

/// Reads one frame: `(type, body)`.
///
/// # Errors
/// [`FrameError`] for a closed link, an oversized or empty frame, or I/O errors.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<(u8, Vec<u8>), FrameError> {
    read_frame_limited(r, MAX_FRAME_BYTES).await
}

/// Reads one frame of at most `limit` bytes (type + body); the length is
/// checked before anything is allocated for it.
///
/// # Errors
/// As [`read_frame`].
pub async fn read_frame_limited<R: AsyncRead + Unpin>(
    r: &mut R,
    limit: usize,
) -> Result<(u8, Vec<u8>), FrameError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(FrameError::Io(e)),
    }
    let len = frame_len(len, limit)?;
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            // `read_exact` does not say how much it read: the header at least.
            FrameError::ClosedMidFrame {
                read: 4,
                len: 4 + len,
            }
        } else {
            FrameError::Io(e)
        }
    })?;
    let body = buf.split_off(1);
    Ok((buf[0], body))
}

/// Reads frames from a stream and keeps what it has read of an unfinished
/// frame between calls, so that [`FrameReader::read`] may be cancelled (one
/// branch of a `select!`) without losing a byte.
pub struct FrameReader<R> {
    r: R,
    buf: BytesMut,
}

/// Bytes asked of the stream at least per read.
const READ_AHEAD_BYTES: usize = 64 << 10;

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Reads frames from `r`.
    pub fn new(r: R) -> FrameReader<R> {
        FrameReader {
            r,
            buf: BytesMut::new(),
        }
    }

    /// Reads one frame: `(type, body)`. Cancel-safe: a call dropped before it
    /// returns leaves the bytes it read for the next call.
    ///
    /// # Errors
    /// As [`read_frame`].
    pub async fn read(&mut self) -> Result<(u8, Vec<u8>), FrameError> {
        loop {
            let mut want = 4;
            if self.buf.len() >= 4 {
                let len = frame_len(
                    [self.buf[0], self.buf[1], self.buf[2], self.buf[3]],
                    MAX_FRAME_BYTES,
                )?;
                if self.buf.len() >= 4 + len {
                    self.buf.advance(4);
                    let frame = self.buf.split_to(len);
                    return Ok((frame[0], frame[1..].to_vec()));
                }
                want = 4 + len;
            }
            // The length was checked above: at most one frame's worth is reserved.
            self.buf
                .reserve((want - self.buf.len()).max(READ_AHEAD_BYTES.min(want)));
            match self.r.read_buf(&mut self.buf).await {
                Ok(0) if self.buf.is_empty() => return Err(FrameError::Closed),
                // rustls reports a peer that closed without close_notify as
                // UnexpectedEof: between frames, that is just a closed link.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && self.buf.is_empty() => {
                    return Err(FrameError::ClosedWithoutNotify)
                }
                Ok(0) => {
                    return Err(FrameError::ClosedMidFrame {
                        read: self.buf.len(),
                        len: want,
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Err(FrameError::ClosedMidFrame {
                        read: self.buf.len(),
                        len: want,
                    })
                }
                Ok(_) => {}
                Err(e) => return Err(FrameError::Io(e)),
            }
        }
    }
}

/// Frames up to this size are written with one write: a continuous link's
/// chunks and acknowledgements leave as one TCP segment each rather than a
/// 5-byte header and then the body (two segments, two wake-ups of the peer
/// when it reads between them), at the cost of copying a few kilobytes.
pub const COALESCE_BYTES: usize = 64 << 10;

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
    if body.len() > COALESCE_BYTES {
        w.write_all(&frame_head(kind, body)).await?;
        return w.write_all(body).await;
    }
    w.write_all(&frame_bytes(kind, body)).await
}

/// The 5 bytes in front of `body`.
fn frame_head(kind: u8, body: &[u8]) -> [u8; 5] {
    assert!(body.len() < MAX_FRAME_BYTES, "frame body over the limit");
    let mut head = [0u8; 5];
    head[..4].copy_from_slice(&((body.len() + 1) as u32).to_le_bytes());
    head[4] = kind;
    head
}

/// One whole frame, header and body, as it goes on the wire.
///
/// # Panics
/// If the body exceeds [`MAX_FRAME_BYTES`].
pub fn frame_bytes(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(5 + body.len());
    frame.extend_from_slice(&frame_head(kind, body));
    frame.extend_from_slice(body);
    frame
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
            Err(FrameError::TooLarge { .. })
        ));
        assert!(matches!(
            read_frame(&mut &[0u8, 0, 0, 0][..]).await,
            Err(FrameError::Empty)
        ));
        assert!(matches!(
            read_frame(&mut &buf[..7]).await,
            Err(FrameError::ClosedMidFrame { len: 10, .. })
        ));
        assert!(matches!(
            read_frame(&mut &[][..]).await,
            Err(FrameError::Closed)
        ));
    }

    #[tokio::test]
    async fn frame_reader_reads_back_to_back_frames_and_checks_limits() {
        let mut buf = Vec::new();
        write_frame(&mut buf, 7, b"hello").await.unwrap();
        write_frame(&mut buf, 9, &vec![3u8; 100_000]).await.unwrap();
        write_frame(&mut buf, 2, b"").await.unwrap();
        let mut fr = FrameReader::new(&buf[..]);
        assert_eq!(fr.read().await.unwrap(), (7, b"hello".to_vec()));
        assert_eq!(fr.read().await.unwrap(), (9, vec![3u8; 100_000]));
        assert_eq!(fr.read().await.unwrap(), (2, Vec::new()));
        assert!(matches!(fr.read().await, Err(FrameError::Closed)));
        let huge = ((MAX_FRAME_BYTES + 1) as u32).to_le_bytes();
        assert!(matches!(
            FrameReader::new(&huge[..]).read().await,
            Err(FrameError::TooLarge { .. })
        ));
        assert!(matches!(
            FrameReader::new(&[0u8, 0, 0, 0][..]).read().await,
            Err(FrameError::Empty)
        ));
        assert!(matches!(
            FrameReader::new(&buf[..7]).read().await,
            Err(FrameError::ClosedMidFrame { read: 7, len: 10 })
        ));
        assert!(matches!(
            FrameReader::new(&buf[..2]).read().await,
            Err(FrameError::ClosedMidFrame { read: 2, len: 4 })
        ));
    }

    /// Reads that end as rustls ends a link closed without close_notify.
    struct EofAfter(Vec<u8>);

    impl AsyncRead for EofAfter {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            if self.0.is_empty() {
                return std::task::Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "peer closed connection without sending TLS close_notify: https://docs.rs/rustls/latest/rustls/manual/_03_howto/index.html#unexpected-eof",
                )));
            }
            let n = self.0.len().min(buf.remaining());
            buf.put_slice(&self.0[..n]);
            self.0.drain(..n);
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_tls_eof_between_frames_is_a_closed_link_in_our_words() {
        let mut buf = Vec::new();
        write_frame(&mut buf, 7, b"hello").await.unwrap();
        let mut fr = FrameReader::new(EofAfter(buf.clone()));
        assert_eq!(fr.read().await.unwrap(), (7, b"hello".to_vec()));
        let e = fr.read().await.unwrap_err();
        assert!(matches!(e, FrameError::ClosedWithoutNotify), "{e}");
        assert!(!e.to_string().contains("https://"), "{e}");
        let e = FrameReader::new(EofAfter(buf[..6].to_vec()))
            .read()
            .await
            .unwrap_err();
        assert!(
            matches!(e, FrameError::ClosedMidFrame { read: 6, len: 10 }),
            "{e}"
        );
        let io = std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "peer closed connection without sending TLS close_notify: https://docs.rs/x",
        );
        assert_eq!(
            FrameError::Io(io).to_string(),
            "I/O error on the ship link: the peer closed the link"
        );
        assert_eq!(
            without_urls("received fatal alert: BadCertificate, see https://example.org/x"),
            "received fatal alert: BadCertificate"
        );
        assert_eq!(
            io_text(&std::io::Error::other("bad thing: https://docs.rs/y")),
            "bad thing"
        );
    }

    /// Keeps what is written, one entry per write call.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl AsyncWrite for Writes {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            self.0.push(buf.to_vec());
            std::task::Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_small_frame_is_one_write_and_a_large_one_two() {
        let mut w = Writes::default();
        write_frame(&mut w, 7, b"hello").await.unwrap();
        assert_eq!(w.0, vec![b"\x06\0\0\0\x07hello".to_vec()]);
        let big = vec![1u8; COALESCE_BYTES + 1];
        let mut w = Writes::default();
        write_frame(&mut w, 9, &big).await.unwrap();
        assert_eq!(w.0.len(), 2);
        assert_eq!(w.0[1], big);
        let (k, b) = read_frame(&mut &w.0.concat()[..]).await.unwrap();
        assert_eq!((k, b.len()), (9, big.len()));
    }

    #[tokio::test]
    async fn text_from_another_protocol_is_named_as_such() {
        // What redis-cli sends, what a Redis server answers, an inline command.
        for wire in [
            &b"*1\r\n$4\r\nPING\r\n"[..],
            b"-ERR unknown command\r\n",
            b"PING\r\n",
        ] {
            match read_frame_limited(&mut &wire[..], MAX_HANDSHAKE_FRAME_BYTES).await {
                Err(FrameError::Text { start }) => assert_eq!(start.as_bytes(), &wire[..4]),
                other => panic!("{wire:?}: {other:?}"),
            }
            assert!(matches!(
                FrameReader::new(wire).read().await,
                Err(FrameError::Text { .. })
            ));
        }
        // A binary length over the limit is still just too large.
        let huge = [0xff, 0xff, 0xff, 0x7f];
        assert!(matches!(
            read_frame(&mut &huge[..]).await,
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[tokio::test]
    async fn a_cancelled_frame_read_loses_nothing() {
        let (mut tx, rx) = tokio::io::duplex(1 << 16);
        let mut body = vec![0u8; 5000];
        body[4999] = 42;
        let mut wire = Vec::new();
        write_frame(&mut wire, 5, &body).await.unwrap();
        let mut fr = FrameReader::new(rx);
        // Half a frame arrives; the read is abandoned before the rest does.
        tx.write_all(&wire[..2500]).await.unwrap();
        let r = tokio::time::timeout(std::time::Duration::from_millis(20), fr.read()).await;
        assert!(r.is_err(), "a half frame must not be returned");
        tx.write_all(&wire[2500..]).await.unwrap();
        assert_eq!(fr.read().await.unwrap(), (5, body));
    }
}

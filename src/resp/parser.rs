//! RESP2 request parser: multibulk frames (`*N\r\n$L\r\n…`) and inline commands,
//! incremental (a partial frame yields `None`) and bounded: every declared length
//! is checked against [`Limits`] before anything is allocated for it.

use bytes::{Buf, Bytes, BytesMut};

/// Bounds on what a client may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest bulk string (Redis's `proto-max-bulk-len`, 512 MiB by default).
    pub max_bulk_bytes: usize,
    /// Most arguments in one command, the command name included.
    pub max_args: usize,
    /// Longest inline command line (Redis: 64 KiB).
    pub max_inline_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_bytes: 512 << 20,
            max_args: 1 << 20,
            max_inline_bytes: 64 << 10,
        }
    }
}

/// Longest `*N` or `$L` header line accepted.
const MAX_HEADER_LINE_BYTES: usize = 32;

/// A malformed request; the reply is `-ERR Protocol error: …` and the connection
/// is closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Protocol error: {0}")]
pub struct ProtocolError(pub String);

fn perr<T>(msg: impl Into<String>) -> Result<T, ProtocolError> {
    Err(ProtocolError(msg.into()))
}

/// One command: its arguments, the name first. Never empty.
pub type Frame = Vec<Bytes>;

/// Takes the next complete command off the front of `buf`.
///
/// Returns `Ok(None)` when `buf` holds only part of a command (read more and call
/// again). Empty commands (`*0`, blank inline lines) are consumed and skipped.
///
/// # Errors
/// [`ProtocolError`] for malformed input or a limit exceeded; the connection
/// must be closed, as the stream can no longer be framed.
pub fn parse(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Frame>, ProtocolError> {
    loop {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let frame = if first == b'*' {
            parse_multibulk(buf, limits)?
        } else {
            parse_inline(buf, limits)?
        };
        match frame {
            Some(f) if f.is_empty() => continue,
            other => return Ok(other),
        }
    }
}

/// Finds `\r\n` in `buf` from `from`; returns the index of `\r`.
fn find_crlf(buf: &[u8], from: usize, max_line: usize) -> Result<Option<usize>, ProtocolError> {
    let end = buf.len().min(from + max_line + 2);
    match buf[from..end].windows(2).position(|w| w == b"\r\n") {
        Some(i) => Ok(Some(from + i)),
        None if buf.len() - from > max_line + 1 => perr("too big count string"),
        None => Ok(None),
    }
}

/// Parses a decimal integer the way Redis does (optional '-', digits only).
fn parse_len(digits: &[u8]) -> Option<i64> {
    let (neg, d) = match digits.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, digits),
    };
    if d.is_empty() || d.len() > 18 || !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = d.iter().fold(0i64, |a, c| a * 10 + i64::from(c - b'0'));
    Some(if neg { -v } else { v })
}

fn parse_multibulk(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Frame>, ProtocolError> {
    let Some(eol) = find_crlf(buf, 1, MAX_HEADER_LINE_BYTES)? else {
        return Ok(None);
    };
    let Some(n) = parse_len(&buf[1..eol]) else {
        return perr("invalid multibulk length");
    };
    if n <= 0 {
        buf.advance(eol + 2);
        return Ok(Some(Vec::new()));
    }
    if n as u64 > limits.max_args as u64 {
        return perr(format!(
            "invalid multibulk length ({n} arguments, the limit is {})",
            limits.max_args
        ));
    }
    // First pass: check every header and find the end, allocating nothing.
    let mut pos = eol + 2;
    for _ in 0..n {
        let Some(&c) = buf.get(pos) else {
            return Ok(None);
        };
        if c != b'$' {
            return perr(format!("expected '$', got '{}'", char::from(c)));
        }
        let Some(eol) = find_crlf(buf, pos + 1, MAX_HEADER_LINE_BYTES)? else {
            return Ok(None);
        };
        let len = match parse_len(&buf[pos + 1..eol]) {
            Some(l) if l >= 0 && l as u64 <= limits.max_bulk_bytes as u64 => l as usize,
            _ => {
                return perr(format!(
                    "invalid bulk length (the limit is {} bytes)",
                    limits.max_bulk_bytes
                ))
            }
        };
        let data = eol + 2;
        if buf.len() < data + len + 2 {
            return Ok(None);
        }
        if &buf[data + len..data + len + 2] != b"\r\n" {
            return perr("bulk string not terminated by CRLF");
        }
        pos = data + len + 2;
    }
    // Second pass: the whole frame is here; slice it without copying.
    let frame = buf.split_to(pos).freeze();
    let mut args = Vec::with_capacity(n as usize);
    let mut pos = frame.iter().position(|&b| b == b'\n').expect("checked") + 1;
    for _ in 0..n {
        let eol = pos
            + frame[pos..]
                .iter()
                .position(|&b| b == b'\r')
                .expect("checked");
        let len = parse_len(&frame[pos + 1..eol]).expect("checked") as usize;
        args.push(frame.slice(eol + 2..eol + 2 + len));
        pos = eol + 2 + len + 2;
    }
    Ok(Some(args))
}

fn parse_inline(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Frame>, ProtocolError> {
    let scan = buf.len().min(limits.max_inline_bytes + 1);
    let Some(nl) = buf[..scan].iter().position(|&b| b == b'\n') else {
        if buf.len() > limits.max_inline_bytes {
            return perr("too big inline request");
        }
        return Ok(None);
    };
    let line = buf.split_to(nl + 1);
    let mut text = &line[..nl];
    if text.last() == Some(&b'\r') {
        text = &text[..text.len() - 1];
    }
    let args = split_args(text)?;
    if args.len() > limits.max_args {
        return perr("too many arguments in inline request");
    }
    Ok(Some(args.into_iter().map(Bytes::from).collect()))
}

/// Splits an inline line into arguments like Redis's `sdssplitargs`: spaces
/// separate, `"…"` takes `\n \r \t \b \a \\ \" \xHH` escapes, `'…'` takes `\'`.
fn split_args(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
    let mut out = Vec::new();
    let mut i = 0;
    let unbalanced = || perr("unbalanced quotes in request");
    while i < line.len() {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == line.len() {
            break;
        }
        let mut arg = Vec::new();
        match line[i] {
            b'"' => {
                i += 1;
                loop {
                    let Some(&c) = line.get(i) else {
                        return unbalanced();
                    };
                    match c {
                        b'\\'
                            if i + 3 < line.len()
                                && line[i + 1] == b'x'
                                && line[i + 2].is_ascii_hexdigit()
                                && line[i + 3].is_ascii_hexdigit() =>
                        {
                            let hex = std::str::from_utf8(&line[i + 2..i + 4]).expect("hex");
                            arg.push(u8::from_str_radix(hex, 16).expect("hex"));
                            i += 4;
                        }
                        b'\\' if i + 1 < line.len() => {
                            arg.push(match line[i + 1] {
                                b'n' => b'\n',
                                b'r' => b'\r',
                                b't' => b'\t',
                                b'b' => 8,
                                b'a' => 7,
                                other => other,
                            });
                            i += 2;
                        }
                        b'"' => {
                            i += 1;
                            if line.get(i).is_some_and(|c| !c.is_ascii_whitespace()) {
                                return unbalanced();
                            }
                            break;
                        }
                        _ => {
                            arg.push(c);
                            i += 1;
                        }
                    }
                }
            }
            b'\'' => {
                i += 1;
                loop {
                    let Some(&c) = line.get(i) else {
                        return unbalanced();
                    };
                    if c == b'\\' && line.get(i + 1) == Some(&b'\'') {
                        arg.push(b'\'');
                        i += 2;
                    } else if c == b'\'' {
                        i += 1;
                        if line.get(i).is_some_and(|c| !c.is_ascii_whitespace()) {
                            return unbalanced();
                        }
                        break;
                    } else {
                        arg.push(c);
                        i += 1;
                    }
                }
            }
            _ => {
                while i < line.len() && !line[i].is_ascii_whitespace() {
                    arg.push(line[i]);
                    i += 1;
                }
            }
        }
        out.push(arg);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8], limits: &Limits) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(f) = parse(&mut buf, limits)? {
            out.push(f.iter().map(|b| b.to_vec()).collect());
        }
        assert!(buf.is_empty(), "left over: {buf:?}");
        Ok(out)
    }

    fn args(a: &[&str]) -> Vec<Vec<u8>> {
        a.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn multibulk_pipeline_and_binary_values() {
        let got = parse_all(
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(
            got,
            vec![args(&["GET", "k"]), args(&["SET", "k", "a\r\nb"])]
        );
    }

    #[test]
    fn partial_frames_wait_for_more_at_every_cut() {
        let whole = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
        for cut in 0..whole.len() {
            let mut buf = BytesMut::from(&whole[..cut]);
            assert_eq!(parse(&mut buf, &Limits::default()), Ok(None), "cut {cut}");
            assert_eq!(buf.len(), cut, "nothing consumed at cut {cut}");
            buf.extend_from_slice(&whole[cut..]);
            let f = parse(&mut buf, &Limits::default()).unwrap().unwrap();
            assert_eq!(f.len(), 3);
            assert_eq!(&f[2][..], b"value");
        }
    }

    #[test]
    fn limits_are_checked_before_the_data_arrives() {
        let lim = Limits {
            max_bulk_bytes: 10,
            max_args: 3,
            max_inline_bytes: 16,
        };
        let mut buf = BytesMut::from(&b"*1\r\n$11\r\n"[..]);
        assert!(parse(&mut buf, &lim)
            .unwrap_err()
            .0
            .contains("invalid bulk length"));
        let mut buf = BytesMut::from(&b"*4\r\n"[..]);
        assert!(parse(&mut buf, &lim)
            .unwrap_err()
            .0
            .contains("multibulk length"));
        let mut buf = BytesMut::from(&b"*1\r\n$-1\r\n"[..]);
        assert!(parse(&mut buf, &lim).is_err());
        let mut buf = BytesMut::from(&b"*1\r\n$99999999999999999999999\r\n"[..]);
        assert!(parse(&mut buf, &lim).is_err());
        let mut buf = BytesMut::from(&b"*12345678901234567890123456789012345"[..]);
        assert!(parse(&mut buf, &lim).is_err());
        let mut buf = BytesMut::from(&b"PING PING PING PING PING"[..]);
        assert!(parse(&mut buf, &lim).unwrap_err().0.contains("inline"));
        let mut buf = BytesMut::from(&b"*1\r\n$1\r\nab\r\n"[..]);
        assert!(parse(&mut buf, &lim).unwrap_err().0.contains("CRLF"));
        let mut buf = BytesMut::from(&b"*1\r\n:1\r\n"[..]);
        assert!(parse(&mut buf, &lim)
            .unwrap_err()
            .0
            .contains("expected '$'"));
        let mut buf = BytesMut::from(&b"*x\r\n"[..]);
        assert!(parse(&mut buf, &lim).is_err());
    }

    #[test]
    fn inline_commands_with_quotes() {
        let got = parse_all(
            b"PING\r\nset k \"a b\\x41\\n\"\n\r\n  get  'it\\'s'\r\n*0\r\n",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                args(&["PING"]),
                args(&["set", "k", "a bA\n"]),
                args(&["get", "it's"])
            ]
        );
        let mut buf = BytesMut::from(&b"get \"open\r\n"[..]);
        assert!(parse(&mut buf, &Limits::default())
            .unwrap_err()
            .0
            .contains("unbalanced"));
        let mut buf = BytesMut::from(&b"PING"[..]);
        assert_eq!(parse(&mut buf, &Limits::default()), Ok(None));
    }
}

//! RESP2 reply encoding into a byte buffer.

/// Appends RESP2 replies to a buffer.
pub trait Reply {
    /// `+text`
    fn simple(&mut self, text: &str);
    /// `-text` (text starts with the error code, e.g. `ERR …`)
    fn error(&mut self, text: &str);
    /// `:n`
    fn int(&mut self, n: i64);
    /// `$len` and the bytes
    fn bulk(&mut self, bytes: &[u8]);
    /// `$-1` (nil)
    fn nil(&mut self);
    /// `*n`, followed by `n` replies
    fn array(&mut self, n: usize);
    /// `+OK`
    fn ok(&mut self) {
        self.simple("OK");
    }
}

fn line(out: &mut Vec<u8>, prefix: u8, n: i64) {
    out.push(prefix);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

impl Reply for Vec<u8> {
    fn simple(&mut self, text: &str) {
        debug_assert!(!text.contains(['\r', '\n']));
        self.push(b'+');
        self.extend_from_slice(text.as_bytes());
        self.extend_from_slice(b"\r\n");
    }

    fn error(&mut self, text: &str) {
        self.push(b'-');
        // An error line must not contain line breaks.
        self.extend(
            text.bytes()
                .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        self.extend_from_slice(b"\r\n");
    }

    fn int(&mut self, n: i64) {
        line(self, b':', n);
    }

    fn bulk(&mut self, bytes: &[u8]) {
        line(self, b'$', bytes.len() as i64);
        self.extend_from_slice(bytes);
        self.extend_from_slice(b"\r\n");
    }

    fn nil(&mut self) {
        self.extend_from_slice(b"$-1\r\n");
    }

    fn array(&mut self, n: usize) {
        line(self, b'*', n as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes() {
        let mut o = Vec::new();
        o.array(2);
        o.bulk(b"ab");
        o.nil();
        o.int(-5);
        o.ok();
        o.error("ERR bad\r\nthing");
        assert_eq!(
            o,
            b"*2\r\n$2\r\nab\r\n$-1\r\n:-5\r\n+OK\r\n-ERR bad  thing\r\n"
        );
    }
}

//! Talking to a node as a RESP client (promote, rejoin, drill, demo, the
//! benchmarks use the `redis` crate): its errors in our words.
//!
//! The client library's own rendering (`An error was signalled by the server -
//! ResponseError: …`) names its internals; a DBA should read what the server
//! said, or that the node could not be reached and why, on one line.

use redis::{ErrorKind, RedisError};

/// A failed request to a node, as a user reads it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error reply: its own text (`ERR` dropped,
    /// other codes such as `FENCED` or `NOAUTH` kept).
    #[error("{text}")]
    Server { text: String },
    /// No answer: the connection could not be made, broke, or timed out.
    #[error("cannot reach {addr}: {reason}")]
    Unreachable { addr: String, reason: String },
    /// An answer that is not what the command returns.
    #[error("unexpected answer from {addr}: {reason}")]
    Unexpected { addr: String, reason: String },
}

impl ClientError {
    /// Turns an error of the client library talking to `addr` into ours.
    pub fn from_redis(addr: &str, e: &RedisError) -> ClientError {
        let unreachable = |reason: String| ClientError::Unreachable {
            addr: addr.to_string(),
            reason,
        };
        let detail = e.detail().unwrap_or("").trim();
        match e.kind() {
            ErrorKind::IoError => unreachable(io_reason(e)),
            ErrorKind::TypeError | ErrorKind::ParseError | ErrorKind::ClientError => {
                ClientError::Unexpected {
                    addr: addr.to_string(),
                    reason: if detail.is_empty() {
                        e.category().to_string()
                    } else {
                        detail.to_string()
                    },
                }
            }
            ErrorKind::InvalidClientConfig => ClientError::Unexpected {
                addr: addr.to_string(),
                reason: format!("not an address to connect to ({detail})"),
            },
            ErrorKind::AuthenticationFailed => ClientError::Server {
                text: "authentication failed: the password was refused".into(),
            },
            ErrorKind::ResponseError => ClientError::Server {
                text: detail.to_string(),
            },
            _ => ClientError::Server {
                text: match e.code() {
                    Some(code) if detail.is_empty() => code.to_string(),
                    Some(code) => format!("{code} {detail}"),
                    None if detail.is_empty() => e.category().to_string(),
                    None => detail.to_string(),
                },
            },
        }
    }

    /// What went wrong, without the address (for messages that name it
    /// already).
    pub fn reason(&self) -> &str {
        match self {
            ClientError::Server { text } => text,
            ClientError::Unreachable { reason, .. } | ClientError::Unexpected { reason, .. } => {
                reason
            }
        }
    }

    /// True when the node was not reached (as opposed to answering badly).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Unreachable { .. })
    }
}

/// Why a node could not be reached, from a client library I/O error (which
/// it hands out only as its kind, through these tests, and its text).
fn io_reason(e: &RedisError) -> String {
    if e.is_connection_refusal() {
        "connection refused (is it running, on this address?)".into()
    } else if e.is_timeout() {
        "no answer in time".into()
    } else if e.is_connection_dropped() {
        "the connection was closed".into()
    } else {
        let text = crate::ship::protocol::frame::without_urls(&e.to_string());
        // `Network unreachable (os error 101)`: the number says nothing more.
        match text.rfind(" (os error ") {
            Some(i) if text.ends_with(')') => text[..i].to_string(),
            _ => text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_are_the_servers_words() {
        let e = RedisError::from((
            ErrorKind::ResponseError,
            "An error was signalled by the server",
            "LOGSHIP FENCE needs a proof made with this primary's ship key".to_string(),
        ));
        let c = ClientError::from_redis("127.0.0.1:1", &e);
        assert_eq!(
            c.to_string(),
            "LOGSHIP FENCE needs a proof made with this primary's ship key"
        );
        let e = RedisError::from((
            ErrorKind::ExtensionError,
            "FENCED",
            "this primary was fenced at LSN 0/10".to_string(),
        ));
        // The client library keeps an unknown code as the extension's code.
        let c = ClientError::from_redis("a:1", &e).to_string();
        assert!(c.contains("this primary was fenced at LSN 0/10"), "{c}");
        assert!(
            !c.contains("signalled") && !c.contains("ResponseError"),
            "{c}"
        );
    }

    #[test]
    fn io_errors_say_what_could_not_be_reached() {
        use std::io::ErrorKind as Io;
        let e = RedisError::from(std::io::Error::from(Io::ConnectionRefused));
        let c = ClientError::from_redis("127.0.0.1:9", &e);
        assert!(c.is_unreachable());
        assert_eq!(
            c.to_string(),
            "cannot reach 127.0.0.1:9: connection refused (is it running, on this address?)"
        );
        let e = RedisError::from(std::io::Error::from(Io::TimedOut));
        assert_eq!(
            ClientError::from_redis("h:1", &e).to_string(),
            "cannot reach h:1: no answer in time"
        );
        let e = RedisError::from(std::io::Error::from_raw_os_error(libc::ENETUNREACH));
        assert_eq!(
            ClientError::from_redis("h:1", &e).to_string(),
            "cannot reach h:1: Network is unreachable"
        );
    }
}

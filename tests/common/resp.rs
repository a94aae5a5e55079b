//! A raw RESP2 client whose replies are parsed values (for comparing two
//! servers reply by reply), and a real `redis-server` on a loopback port.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value {
    /// `+OK`
    Simple(String),
    /// `-ERR …`
    Error(String),
    /// `:42`
    Int(i64),
    /// `$5\r\nhello` (`None`: `$-1`)
    Bulk(Option<Vec<u8>>),
    /// `*2…` (`None`: `*-1`)
    Array(Option<Vec<Value>>),
}

impl Value {
    /// The elements of a (non-nil) array.
    pub fn items(&self) -> Option<&[Value]> {
        match self {
            Value::Array(Some(v)) => Some(v),
            _ => None,
        }
    }

    /// The bytes of a (non-nil) bulk string.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(Some(b)) => Some(b),
            _ => None,
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Value::Error(_))
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Simple(s) => write!(f, "+{s}"),
            Value::Error(s) => write!(f, "-{s}"),
            Value::Int(i) => write!(f, "(integer) {i}"),
            Value::Bulk(None) | Value::Array(None) => write!(f, "(nil)"),
            Value::Bulk(Some(b)) => write!(f, "{:?}", String::from_utf8_lossy(b)),
            Value::Array(Some(v)) => {
                write!(f, "[")?;
                for (i, e) in v.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{e}")?;
                }
                write!(f, "]")
            }
        }
    }
}

/// One connection speaking RESP2, every wait bounded.
pub struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
    pub addr: String,
}

impl Conn {
    /// Connects to `addr` (retrying for up to 10 s while it is not up yet).
    pub fn open(addr: &str) -> Conn {
        let deadline = Instant::now() + Duration::from_secs(10);
        let s = loop {
            match TcpStream::connect(addr) {
                Ok(s) => break s,
                Err(e) => {
                    assert!(Instant::now() < deadline, "connect {addr}: {e}");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        };
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.set_nodelay(true).unwrap();
        Conn {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
            addr: addr.to_string(),
        }
    }

    /// Sends one command and reads its reply.
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Value {
        let mut buf = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            let a = a.as_ref();
            buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            buf.extend_from_slice(a);
            buf.extend_from_slice(b"\r\n");
        }
        self.w
            .write_all(&buf)
            .unwrap_or_else(|e| panic!("send to {}: {e}", self.addr));
        self.read()
    }

    /// [`Conn::call`] with string arguments.
    pub fn cmd(&mut self, args: &[&str]) -> Value {
        self.call(args)
    }

    /// Reads one reply.
    pub fn read(&mut self) -> Value {
        let mut line = Vec::new();
        self.r
            .read_until(b'\n', &mut line)
            .unwrap_or_else(|e| panic!("read from {}: {e}", self.addr));
        assert!(
            line.ends_with(b"\r\n"),
            "{} closed the connection or sent {:?}",
            self.addr,
            String::from_utf8_lossy(&line)
        );
        let text = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        let num = || -> i64 {
            text.parse()
                .unwrap_or_else(|_| panic!("bad RESP number {text:?}"))
        };
        match line[0] {
            b'+' => Value::Simple(text),
            b'-' => Value::Error(text),
            b':' => Value::Int(num()),
            b'$' => {
                let n = num();
                if n < 0 {
                    return Value::Bulk(None);
                }
                let mut b = vec![0u8; n as usize + 2];
                self.r.read_exact(&mut b).expect("bulk body");
                b.truncate(n as usize);
                Value::Bulk(Some(b))
            }
            b'*' => {
                let n = num();
                if n < 0 {
                    return Value::Array(None);
                }
                Value::Array(Some((0..n).map(|_| self.read()).collect()))
            }
            c => panic!("unexpected RESP type byte {c:#x} from {}", self.addr),
        }
    }
}

/// A `redis-server` child on 127.0.0.1 with no persistence.
pub struct RedisServer {
    child: Option<Child>,
    pub addr: String,
}

impl RedisServer {
    /// Starts `redis-server` on a free port, or says why it cannot: not
    /// installed (`Err` with the reason). Under `CI=true` a missing server
    /// is a failure, not a reason to skip.
    pub fn start() -> Result<RedisServer, String> {
        let bin = "redis-server";
        if Command::new(bin)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            let why = "redis-server is not installed (apt-get install redis-server)".to_string();
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: {why}"
            );
            return Err(why);
        }
        for _ in 0..5 {
            let addr = super::free_addr();
            let port = addr.rsplit(':').next().unwrap().to_string();
            let child = Command::new(bin)
                .args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
                .args(["--appendonly", "no", "--daemonize", "no"])
                .args(["--loglevel", "warning"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("start redis-server: {e}"))?;
            let mut s = RedisServer {
                child: Some(child),
                addr,
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Some(st) = s.child.as_mut().unwrap().try_wait().unwrap() {
                    // The port was taken meanwhile: try another.
                    eprintln!("redis-server on {} exited: {st}", s.addr);
                    s.child = None;
                    break;
                }
                if TcpStream::connect(&s.addr).is_ok() {
                    return Ok(s);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("redis-server did not start on a free port in 5 tries");
    }

    /// A new connection.
    pub fn conn(&self) -> Conn {
        Conn::open(&self.addr)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

//! TLS on the ship link (rustls): the configuration built from PEM files, and
//! the stream type the sender and receiver speak the protocol over.
//!
//! TLS is mutual: the standby (server) requires a client certificate signed by
//! the CA, and the primary (client) checks the standby's certificate against
//! the same CA and the name it connects to (the `--ship-to` host, a DNS name or
//! an IP address SAN, unless `--tls-server-name` overrides it). The frames and
//! the HMAC handshake inside are the same as on a plain link.
//!
//! A mismatch (one side TLS, the other plain) is detected on both sides and
//! named: a plain standby sees a TLS record header where the `Auth` frame
//! should be ([`looks_like_tls`]); a TLS standby that hears nothing from a
//! connected peer within [`PLAIN_PEER_WAIT`] answers with a plain `Refuse`
//! frame that a plain primary reads; a TLS primary's handshake fails on the
//! plain `Hello` frame and says so.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{
    self,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName},
    server::WebPkiClientVerifier,
    ClientConfig, RootCertStore, ServerConfig,
};

/// How long a TLS handshake may take.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a TLS standby waits for a connected peer's first byte before it
/// concludes the peer speaks the plain protocol (which waits for the standby
/// to speak first) and tells it so.
pub const PLAIN_PEER_WAIT: Duration = Duration::from_secs(2);
/// Largest PEM file read.
pub const MAX_PEM_BYTES: u64 = 1 << 20;

/// Anything the ship protocol can run over: a TCP stream or a TLS stream.
pub trait ShipIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> ShipIo for T {}

/// The stream of one ship link, plain or TLS.
pub type ShipStream = Box<dyn ShipIo>;
/// The reading half of a ship link (the sender reads acknowledgements in a task).
pub type ShipReader = Box<dyn AsyncRead + Unpin + Send>;
/// The writing half of a ship link.
pub type ShipWriter = Box<dyn AsyncWrite + Unpin + Send>;

/// Whether a link is encrypted (status and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Plain,
    Tls,
}

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("--tls-cert, --tls-key and --tls-ca go together; missing: {}", missing.join(", "))]
    Incomplete { missing: Vec<&'static str> },
    #[error("TLS {what} file {}: {problem}", path.display())]
    File {
        what: &'static str,
        path: PathBuf,
        #[source]
        problem: PemProblem,
    },
    #[error("TLS configuration: {0}")]
    Config(#[source] rustls::Error),
    #[error("TLS configuration: {0}")]
    Verifier(#[source] rustls::server::VerifierBuilderError),
    /// The certificate does not go with the key.
    #[error("TLS configuration: {}: {source}", path.display())]
    CertKey {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("--tls-server-name '{0}' is not a DNS name or IP address")]
    ServerName(String),
}

/// What is wrong with a TLS file.
#[derive(Debug, thiserror::Error)]
pub enum PemProblem {
    #[error("{}", .0.source)]
    Read(#[source] crate::durable::IoError),
    #[error("larger than {MAX_PEM_BYTES} bytes")]
    TooLarge,
    #[error("not PEM certificates: {0}")]
    NotCertificates(#[source] rustls::pki_types::pem::Error),
    #[error("holds no PEM certificate")]
    NoCertificate,
    /// The error names the file only: never the parse state of the key.
    #[error("holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey,
    #[error("{0}")]
    BadCa(#[source] rustls::Error),
}

/// Why a TLS handshake on the ship link failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("'{host}' is not a DNS name or IP address to check the standby's certificate against (use --tls-server-name)")]
    Name { host: String },
    #[error("TLS handshake timed out after {} s", TLS_HANDSHAKE_TIMEOUT.as_secs())]
    Timeout,
    /// The peer answered in the plain protocol.
    #[error("TLS handshake failed ({}): the peer answered without TLS; is it started without --tls-cert/--tls-key/--tls-ca?", super::frame::io_text(.0))]
    PlainPeer(#[source] std::io::Error),
    #[error("TLS handshake failed: {}", super::frame::io_text(.0))]
    Failed(#[source] std::io::Error),
    #[error("closed before the TLS handshake")]
    Closed,
    /// Waiting for the peer's first byte failed.
    #[error("{}", super::frame::io_text(.0))]
    Peek(#[source] std::io::Error),
}

/// The TLS files given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl TlsFiles {
    /// The three flags together, or none of them.
    ///
    /// # Errors
    /// [`TlsError::Incomplete`] naming the flags missing when only some are given.
    pub fn from_flags(
        cert: Option<&Path>,
        key: Option<&Path>,
        ca: Option<&Path>,
    ) -> Result<Option<TlsFiles>, TlsError> {
        match (cert, key, ca) {
            (None, None, None) => Ok(None),
            (Some(c), Some(k), Some(a)) => Ok(Some(TlsFiles {
                cert: c.to_path_buf(),
                key: k.to_path_buf(),
                ca: a.to_path_buf(),
            })),
            _ => {
                let missing = [("--tls-cert", cert), ("--tls-key", key), ("--tls-ca", ca)]
                    .iter()
                    .filter(|(_, v)| v.is_none())
                    .map(|(n, _)| *n)
                    .collect();
                Err(TlsError::Incomplete { missing })
            }
        }
    }
}

/// Both ends' rustls configurations from one certificate, key and CA. Its
/// `Debug` form names the files only: the key stays hidden.
#[derive(Clone)]
pub struct ShipTls {
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    server_name: Option<ServerName<'static>>,
    files: TlsFiles,
}

impl std::fmt::Debug for ShipTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShipTls")
            .field("cert", &self.files.cert)
            .field("ca", &self.files.ca)
            .field("key", &"<hidden>")
            .field("server_name", &self.server_name)
            .finish()
    }
}

/// The error for the TLS file `path` (the `what` file).
fn bad_file<'a>(what: &'static str, path: &'a Path) -> impl Fn(PemProblem) -> TlsError + 'a {
    move |problem| TlsError::File {
        what,
        path: path.to_path_buf(),
        problem,
    }
}

fn read_pem(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let bad = bad_file(what, path);
    crate::durable::read_small(path, MAX_PEM_BYTES)
        .map_err(|e| bad(PemProblem::Read(e)))?
        .ok_or_else(|| bad(PemProblem::TooLarge))
}

fn certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_pem(what, path)?;
    let bad = bad_file(what, path);
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(PemProblem::NotCertificates(e)))?;
    if certs.is_empty() {
        return Err(bad(PemProblem::NoCertificate));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read_pem("key", path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|_| bad_file("key", path)(PemProblem::NoKey))
}

impl ShipTls {
    /// Builds both ends' configurations from the files. `server_name`
    /// overrides the name the primary checks in the standby's certificate.
    ///
    /// # Errors
    /// [`TlsError`] naming the file that is unreadable or not what it should be,
    /// or a certificate that does not match its key.
    pub fn load(files: &TlsFiles, server_name: Option<&str>) -> Result<ShipTls, TlsError> {
        let chain = certs("cert", &files.cert)?;
        let key = private_key(&files.key)?;
        let mut roots = RootCertStore::empty();
        for c in certs("CA", &files.ca)? {
            roots
                .add(c)
                .map_err(|e| bad_file("CA", &files.ca)(PemProblem::BadCa(e)))?;
        }
        let roots = Arc::new(roots);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = TlsError::Config;
        let cert_key = |source| TlsError::CertKey {
            path: files.cert.clone(),
            source,
        };
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(TlsError::Verifier)?;
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(cfg)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(cert_key)?;
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(cfg)?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(cert_key)?;
        let server_name = server_name
            .map(|n| {
                ServerName::try_from(n.to_string()).map_err(|_| TlsError::ServerName(n.into()))
            })
            .transpose()?;
        Ok(ShipTls {
            client: Arc::new(client),
            server: Arc::new(server),
            server_name,
            files: files.clone(),
        })
    }

    /// The name checked in the certificate of the standby at `addr`
    /// (`host:port`): the override, or the host.
    fn name_for(&self, addr: &str) -> Result<ServerName<'static>, HandshakeError> {
        if let Some(n) = &self.server_name {
            return Ok(n.clone());
        }
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        ServerName::try_from(host.to_string()).map_err(|_| HandshakeError::Name {
            host: host.to_string(),
        })
    }
}

/// The primary's side: wraps a connected socket in TLS when configured and
/// splits it (a plain socket without a lock between the halves).
///
/// # Errors
/// [`HandshakeError`] naming what failed in the TLS handshake, with a hint
/// when the standby answered in the plain protocol.
pub async fn client_halves(
    sock: TcpStream,
    addr: &str,
    tls: Option<&ShipTls>,
) -> Result<(ShipReader, ShipWriter), HandshakeError> {
    let Some(tls) = tls else {
        let (r, w) = sock.into_split();
        return Ok((Box::new(r), Box::new(w)));
    };
    let name = tls.name_for(addr)?;
    let connector = tokio_rustls::TlsConnector::from(tls.client.clone());
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, connector.connect(name, sock)).await {
        Err(_) => Err(HandshakeError::Timeout),
        Ok(Err(e)) => Err(handshake_error(e)),
        Ok(Ok(s)) => {
            let (r, w) = tokio::io::split(s);
            Ok((Box::new(r), Box::new(w)))
        }
    }
}

fn handshake_error(e: std::io::Error) -> HandshakeError {
    let plain_peer = e
        .get_ref()
        .and_then(|i| i.downcast_ref::<rustls::Error>())
        .is_some_and(|r| {
            matches!(
                r,
                rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. }
            )
        });
    if plain_peer {
        HandshakeError::PlainPeer(e)
    } else {
        HandshakeError::Failed(e)
    }
}

/// What became of an accepted connection on a TLS standby.
pub enum Accepted {
    /// The TLS handshake succeeded.
    Stream(ShipStream),
    /// The peer speaks the plain protocol: the socket, to tell it so.
    Plain(TcpStream),
    /// The handshake failed (bad certificate, wrong CA, timeout).
    Failed(HandshakeError),
}

/// The standby's side of a TLS link: waits for the peer's first byte, then
/// does the handshake (a TLS record starts with 0x16).
pub async fn accept_tls(sock: TcpStream, tls: &ShipTls) -> Accepted {
    let mut first = [0u8; 1];
    match tokio::time::timeout(PLAIN_PEER_WAIT, sock.peek(&mut first)).await {
        Err(_) => return Accepted::Plain(sock),
        Ok(Err(e)) => return Accepted::Failed(HandshakeError::Peek(e)),
        Ok(Ok(0)) => return Accepted::Failed(HandshakeError::Closed),
        Ok(Ok(_)) if first[0] != 0x16 => return Accepted::Plain(sock),
        Ok(Ok(_)) => {}
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.server.clone());
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(sock)).await {
        Err(_) => Accepted::Failed(HandshakeError::Timeout),
        Ok(Err(e)) => Accepted::Failed(HandshakeError::Failed(e)),
        Ok(Ok(s)) => Accepted::Stream(Box::new(s)),
    }
}

/// True when the 4 bytes where a plain frame's length should be are the start
/// of a TLS handshake record (type 0x16, version 3.x): a TLS peer talking to a
/// plain standby. Only meaningful for the first frame (`Auth`, whose length
/// is small and fixed).
pub fn looks_like_tls(head: &[u8; 4]) -> bool {
    head[0] == 0x16 && head[1] == 0x03 && head[2] <= 0x04
}

/// How long closing a link in order may take (a peer that stopped reading
/// must not hold the connection's task).
pub(super) const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Ends a link in order: TLS `close_notify`, then the TCP FIN, so the peer
/// reads a clean end rather than an unexpected EOF. Errors are moot: the link
/// is over either way.
pub(in crate::ship) async fn close_link<S: tokio::io::AsyncWrite + Unpin + ?Sized>(sock: &mut S) {
    use tokio::io::AsyncWriteExt;
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sock.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_go_together() {
        let p = Path::new("x");
        assert!(TlsFiles::from_flags(None, None, None).unwrap().is_none());
        assert!(TlsFiles::from_flags(Some(p), Some(p), Some(p))
            .unwrap()
            .is_some());
        let e = TlsFiles::from_flags(Some(p), None, Some(p))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing: --tls-key"), "{e}");
    }

    #[test]
    fn a_tls_client_hello_is_recognised_and_an_auth_frame_is_not() {
        assert!(looks_like_tls(&[0x16, 0x03, 0x01, 0x00]));
        let auth_len = 79u32.to_le_bytes();
        assert!(!looks_like_tls(&auth_len));
    }

    #[test]
    fn bad_files_are_named() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("c.pem");
        std::fs::write(&f, "not pem").unwrap();
        let files = TlsFiles {
            cert: f.clone(),
            key: f.clone(),
            ca: f.clone(),
        };
        let e = ShipTls::load(&files, None).unwrap_err().to_string();
        assert!(e.contains("c.pem") && e.contains("cert"), "{e}");
        let files = TlsFiles {
            cert: d.path().join("missing"),
            ..files
        };
        let e = ShipTls::load(&files, None).unwrap_err().to_string();
        assert!(e.contains("missing"), "{e}");
    }
}

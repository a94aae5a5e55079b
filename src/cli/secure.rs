//! Security flags shared by `primary`, `standby` and `ship`: TLS on the ship
//! link and the RESP password file.

use crate::resp::auth::Password;
use crate::ship::tls::{ShipTls, TlsFiles};
use clap::Args;
use std::path::{Path, PathBuf};

/// The password of `--requirepass-file`, if given.
///
/// # Errors
/// The file is unreadable, empty or too large.
pub fn requirepass(file: Option<&Path>) -> anyhow::Result<Option<Password>> {
    Ok(file.map(Password::from_file).transpose()?)
}

/// `--tls-cert`, `--tls-key`, `--tls-ca`: TLS on the ship link, all three or none.
#[derive(Debug, Args, Default)]
pub struct TlsArgs {
    /// This node's certificate chain (PEM) for TLS on the ship link; with
    /// --tls-key and --tls-ca. Both ends verify each other against the CA.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// The CA certificate(s) (PEM) the peer's certificate must chain to.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
}

impl TlsArgs {
    /// True when any TLS flag is given.
    pub fn any(&self) -> bool {
        self.tls_cert.is_some() || self.tls_key.is_some() || self.tls_ca.is_some()
    }

    /// The TLS configuration, `None` without the flags. `server_name` overrides
    /// the name checked in a standby's certificate.
    ///
    /// # Errors
    /// Only some of the three flags given; a file unreadable or not what it should be.
    pub fn load(&self, server_name: Option<&str>) -> anyhow::Result<Option<ShipTls>> {
        let files = TlsFiles::from_flags(
            self.tls_cert.as_deref(),
            self.tls_key.as_deref(),
            self.tls_ca.as_deref(),
        )?;
        if files.is_none() && server_name.is_some() {
            anyhow::bail!("--tls-server-name needs --tls-cert, --tls-key and --tls-ca");
        }
        Ok(files.map(|f| ShipTls::load(&f, server_name)).transpose()?)
    }
}

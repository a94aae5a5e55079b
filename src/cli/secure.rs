//! Security flags shared by `primary`, `standby` and `ship`: TLS on the ship
//! link, the shipping side's link flags and the RESP password file.

use super::parse;
use crate::resp::auth::Password;
use crate::ship::protocol::tls::{ShipTls, TlsFiles};
use crate::ship::{AuthKey, Compression};
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

/// How the shipping side (`primary` with `--ship-to`, and `ship`) opens a link:
/// the shared key, compression and TLS.
#[derive(Debug, Args)]
pub struct LinkArgs {
    /// The shared key file authenticating primary and standbys to each other.
    #[arg(long, value_name = "FILE")]
    pub auth_key_file: Option<PathBuf>,
    /// Ship without authentication (trusted networks and tests only).
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// Compression on the wire: none, zstd, zstd:LEVEL (1-19).
    #[arg(long, value_name = "none|zstd[:LEVEL]", default_value = "zstd", value_parser = parse::compression)]
    pub compress: Compression,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// The name checked in a standby's certificate (default: the host of its
    /// address, a DNS name or an IP address).
    #[arg(long, value_name = "NAME")]
    pub tls_server_name: Option<String>,
    /// Bandwidth cap of each standby link, in bytes on the wire per second
    /// (e.g. 10MiB or 10MiB/s); default: no cap.
    #[arg(long, value_name = "RATE", value_parser = parse::rate)]
    pub ship_max_rate: Option<u64>,
}

impl LinkArgs {
    /// True when a key or TLS flag is given (`--compress` has a default, so
    /// it does not count).
    pub fn any(&self) -> bool {
        self.auth_key_file.is_some()
            || self.insecure_no_auth
            || self.tls.any()
            || self.tls_server_name.is_some()
            || self.ship_max_rate.is_some()
    }

    /// The shared key: `None` with `--insecure-no-auth`.
    ///
    /// # Errors
    /// Neither or both of `--auth-key-file` and `--insecure-no-auth`; an
    /// unreadable or too short key file.
    pub fn key(&self) -> anyhow::Result<Option<AuthKey>> {
        match (&self.auth_key_file, self.insecure_no_auth) {
            (Some(_), true) => {
                anyhow::bail!("--auth-key-file and --insecure-no-auth contradict each other")
            }
            (Some(f), false) => Ok(Some(AuthKey::from_file(f)?)),
            (None, true) => Ok(None),
            (None, false) => anyhow::bail!(
                "shipping needs --auth-key-file FILE (a shared key, 16+ bytes) or --insecure-no-auth"
            ),
        }
    }

    /// The TLS configuration, `None` without the TLS flags.
    ///
    /// # Errors
    /// As [`TlsArgs::load`].
    pub fn tls(&self) -> anyhow::Result<Option<ShipTls>> {
        self.tls.load(self.tls_server_name.as_deref())
    }
}

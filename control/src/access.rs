//! Who may use a daemon's gRPC port, and how a caller reaches one: the token
//! ([`crate::auth`]) and TLS, from flags, a config file (`--config <path>`, TOML) or the
//! environment. docs/security.md says how to deploy them.
//!
//! Precedence, for each setting: the flag, then (for the token) `STILLEPOST_TOKEN`, then
//! the config file. Paths in the config file are relative to the file's directory.
//!
//! TLS roles:
//! - a **coordinator** serves its clients over TLS with `--tls-cert`/`--tls-key`, and with
//!   `--tls-ca` reaches its members over TLS, trusting that CA and presenting its own
//!   certificate as a client certificate;
//! - a **member** serves over TLS with `--tls-cert`/`--tls-key`, and with `--tls-ca` also
//!   requires a client certificate signed by that CA (mTLS): only the coordinator gets in;
//! - the **client** reaches the coordinator over TLS with `--tls-ca`.
#![forbid(unsafe_code)]

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use stillepost_engine::auth::{PSK_MIN_LEN, Psk};

use crate::auth::{InsecureBind, TOKEN_ENV, Token, TokenError, check_bind};

/// The config file, as written. Every key is optional.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    /// File holding the token.
    token_file: Option<PathBuf>,
    /// The token itself (the config file must then be private to the daemon's user).
    token: Option<String>,
    /// Listen on a non-loopback address without a token.
    insecure: Option<bool>,
    /// A member's pre-shared key file.
    psk_file: Option<PathBuf>,
    #[serde(default)]
    tls: TlsSection,
}

/// `[tls]` in the config file.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsSection {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    ca: Option<PathBuf>,
}

/// A config file read and checked, with where each setting came from.
#[derive(Default)]
struct Config {
    /// The file, for messages.
    path: Option<PathBuf>,
    file: ConfigFile,
}

/// Why the access settings cannot be used. Every text names the flag or config key and
/// the file, never a token.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// A file (config, certificate, key) cannot be read.
    #[error("{origin} {}: cannot read it: {cause}", path.display())]
    Read {
        /// The flag or config key that named the file.
        origin: String,
        /// The file.
        path: PathBuf,
        /// What the file system said.
        cause: std::io::Error,
    },
    /// The config file is not valid TOML for Stillepost.
    #[error("--config {}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// The parser's message (line, column and the key at fault).
        message: String,
    },
    /// A token from a file or the environment is unusable.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A PEM file holds nothing of what it must.
    #[error("{origin} {}: {what}", path.display())]
    Pem {
        /// The flag or config key that named the file.
        origin: String,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
    /// A certificate without its key or a key without its certificate.
    #[error(
        "{given} is set but {missing} is not: a TLS identity needs both the certificate (--tls-cert, tls.cert) and its private key (--tls-key, tls.key)"
    )]
    HalfIdentity {
        /// What was given.
        given: &'static str,
        /// What is missing.
        missing: &'static str,
    },
    /// A pre-shared key file that is too short.
    #[error(
        "{origin} {}: holds {len} bytes; a pre-shared key needs at least {min} (make one with `openssl rand -hex 32`)",
        path.display()
    )]
    ShortPsk {
        /// The flag or config key that named the file.
        origin: String,
        /// The file.
        path: PathBuf,
        /// Its length without the trailing newline.
        len: usize,
        /// The least taken.
        min: usize,
    },
    /// `--psk-file` given to a coordinator.
    #[error(
        "--psk-file is for members (the same file on every member of the ring); a coordinator sends no datagrams and takes none"
    )]
    PskOnCoordinator,
    /// A member told to require client certificates on a port that is not TLS.
    #[error(
        "a member's --tls-ca (tls.ca) makes it require client certificates signed by that CA, which needs TLS: set --tls-cert and --tls-key (tls.cert, tls.key) too"
    )]
    ClientCaWithoutTls,
    /// rustls refused the certificates (a key that does not match its certificate, say).
    #[error("{what}: {cause}")]
    Tls {
        /// Which settings.
        what: String,
        /// rustls's reason, with its causes.
        cause: String,
    },
    /// A non-loopback address without a token or `--insecure`.
    #[error(transparent)]
    InsecureBind(#[from] InsecureBind),
}

/// A daemon's TLS identity and, on a member, the CA its callers' certificates must chain
/// to. `Debug` prints no key material.
#[derive(Clone)]
pub struct ServerTls {
    identity: Identity,
    client_ca: Option<Certificate>,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ServerTls {{ client certificates required: {} }}",
            self.client_ca.is_some()
        )
    }
}

impl ServerTls {
    /// tonic's server configuration for it.
    pub fn config(&self) -> ServerTlsConfig {
        let config = ServerTlsConfig::new()
            .identity(self.identity.clone())
            .timeout(crate::rpc::CALL_TIMEOUT);
        match &self.client_ca {
            Some(ca) => config.client_ca_root(ca.clone()),
            None => config,
        }
    }

    /// Whether callers must present a client certificate.
    pub fn requires_client_certificates(&self) -> bool {
        self.client_ca.is_some()
    }
}

/// How a caller verifies a daemon over TLS, and the certificate it presents if it has
/// one. `Debug` prints no key material.
#[derive(Clone)]
pub struct ClientTls {
    ca: Certificate,
    identity: Option<Identity>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ClientTls {{ client certificate: {} }}",
            self.identity.is_some()
        )
    }
}

impl ClientTls {
    /// tonic's channel configuration for it. The server's certificate must name the
    /// host or IP address the caller dials.
    pub fn config(&self) -> ClientTlsConfig {
        let config = ClientTlsConfig::new().ca_certificate(self.ca.clone());
        match &self.identity {
            Some(identity) => config.identity(identity.clone()),
            None => config,
        }
    }
}

/// What a caller sends with every call: the token (if any), over TLS (if set).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// Sent as `authorization: Bearer <token>`.
    pub token: Option<Token>,
    /// Reach the daemon over TLS.
    pub tls: Option<ClientTls>,
}

impl Credentials {
    /// No TLS, only `token` if any (`stillepost local`, tests).
    pub fn token_only(token: Option<Token>) -> Credentials {
        Credentials { token, tls: None }
    }
}

/// What a daemon requires of every call: its token (if any), over TLS (if set).
#[derive(Debug, Clone, Default)]
pub struct Listen {
    /// Calls without it are refused with `Unauthenticated`.
    pub token: Option<Token>,
    /// Serve over TLS.
    pub tls: Option<ServerTls>,
}

impl Listen {
    /// What callers must bring, for the daemon's start line: "TLS, token",
    /// "plain, no token", "TLS with client certificates, no token".
    pub fn describe(&self) -> String {
        let transport = match &self.tls {
            Some(tls) if tls.requires_client_certificates() => "TLS with client certificates",
            Some(_) => "TLS",
            None => "plain",
        };
        let token = if self.token.is_some() {
            "token"
        } else {
            "no token"
        };
        format!("{transport}, {token}")
    }

    /// No TLS, only `token` if any (`stillepost local`, tests).
    pub fn token_only(token: Option<Token>) -> Listen {
        Listen { token, tls: None }
    }
}

/// Which daemon the access settings are for (`--tls-ca` means different things).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonRole {
    /// `stillepostd coordinator`.
    Coordinator,
    /// `stillepostd member`.
    Member,
}

/// `stillepostd`'s access flags.
#[derive(Debug, Clone, Default, Args)]
pub struct DaemonAccessArgs {
    /// TOML file with any of: token_file, token, insecure, psk_file, and [tls] cert,
    /// key, ca (docs/security.md). Flags win over it; relative paths are relative to the file.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// File holding the shared token (one line; chmod 600) that every call to this daemon
    /// must carry, and that a coordinator sends to its members: the coordinator, its
    /// members and the client use the same one. Else the STILLEPOST_TOKEN environment
    /// variable, else the config file. Without a token (or, on a member, client
    /// certificates required with --tls-ca), only a loopback address may be listened on.
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Listen on a non-loopback address without a token: anyone who reaches the port
    /// can configure and read the ring (docs/security.md).
    #[arg(long)]
    pub insecure: bool,
    /// This daemon's certificate (PEM, leaf first): it then serves gRPC over TLS. It must
    /// name the host or IP address callers dial. A coordinator also presents it to members
    /// that require client certificates.
    #[arg(long, value_name = "PATH")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM; chmod 600).
    #[arg(long, value_name = "PATH")]
    pub tls_key: Option<PathBuf>,
    /// CA certificates (PEM). On a coordinator: reach members over TLS, trusting only
    /// these. On a member: require every caller to present a client certificate signed by
    /// them (mTLS), so that only the coordinator gets in.
    #[arg(long, value_name = "PATH")]
    pub tls_ca: Option<PathBuf>,
    /// Members only: a file holding a pre-shared secret (at least 16 bytes; chmod 600),
    /// the same on every member of the ring. It is mixed into every configuration's ring
    /// key, so that challenges and tour datagrams pass only between members that hold it,
    /// even for someone who learned the ring key from the control plane.
    #[arg(long, value_name = "PATH")]
    pub psk_file: Option<PathBuf>,
}

/// The client's access flags.
#[derive(Debug, Clone, Default, Args)]
pub struct ClientAccessArgs {
    /// TOML file with any of: token_file, token, and [tls] ca (docs/security.md); other
    /// keys a daemon's file holds are ignored. Flags win over it.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// File holding the coordinator's token (one line; chmod 600), the one it was started
    /// with. Else the STILLEPOST_TOKEN environment variable, else the config file. `local`
    /// and `tune` need none.
    #[arg(long, global = true, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Reach the coordinator over TLS, trusting only these CA certificates (PEM). The
    /// coordinator's certificate must name the host or IP address of --coordinator.
    #[arg(long, global = true, value_name = "PATH")]
    pub tls_ca: Option<PathBuf>,
}

/// A daemon's settings, resolved.
#[derive(Debug, Clone)]
pub struct DaemonAccess {
    /// What callers must bring.
    pub listen: Listen,
    /// What a coordinator brings to its members (on a member: nothing to use).
    pub members: Credentials,
    /// One line to log at start (a non-loopback address running `--insecure`).
    pub warning: Option<String>,
    /// A member's pre-shared key.
    pub psk: Option<Psk>,
}

impl DaemonAccessArgs {
    /// Reads the config file, token and certificates, and checks that `addr` (given by
    /// `flag`) may be listened on with them.
    pub fn resolve(
        &self,
        role: DaemonRole,
        flag: &'static str,
        addr: SocketAddr,
    ) -> Result<DaemonAccess, AccessError> {
        let config = Config::read(self.config.as_deref())?;
        let token = config.token(self.token_file.as_deref())?;
        let psk = match role {
            DaemonRole::Coordinator if self.psk_file.is_some() => {
                return Err(AccessError::PskOnCoordinator);
            }
            // A config file shared with members may name one: not the coordinator's.
            DaemonRole::Coordinator => None,
            DaemonRole::Member => config.psk(self.psk_file.as_deref())?,
        };
        let cert = config.pick(&self.tls_cert, "--tls-cert", |t| &t.cert, "tls.cert");
        let key = config.pick(&self.tls_key, "--tls-key", |t| &t.key, "tls.key");
        let ca = config.pick(&self.tls_ca, "--tls-ca", |t| &t.ca, "tls.ca");
        let identity = match (cert, key) {
            (Some(cert), Some(key)) => Some(identity(&cert, &key)?),
            (Some(_), None) => return Err(half("--tls-cert", "--tls-key")),
            (None, Some(_)) => return Err(half("--tls-key", "--tls-cert")),
            (None, None) => None,
        };
        if role == DaemonRole::Member && identity.is_none() && ca.is_some() {
            return Err(AccessError::ClientCaWithoutTls);
        }
        let ca = ca.map(|ca| ca_certificate(&ca)).transpose()?;
        let (server_tls, member_tls) = match role {
            DaemonRole::Coordinator => {
                let server = identity.clone().map(|identity| ServerTls {
                    identity,
                    client_ca: None,
                });
                let members = ca.map(|ca| ClientTls { ca, identity });
                (server, members)
            }
            DaemonRole::Member => (
                identity.map(|identity| ServerTls {
                    identity,
                    client_ca: ca,
                }),
                None,
            ),
        };
        if let Some(tls) = &server_tls {
            check_server(tls)?;
        }
        if let Some(tls) = &member_tls {
            check_client(tls, "--tls-ca with --tls-cert and --tls-key")?;
        }
        // A member that requires the coordinator's client certificate is not open to
        // anyone, token or not.
        let authenticated = token.is_some()
            || server_tls
                .as_ref()
                .is_some_and(ServerTls::requires_client_certificates);
        let insecure = self.insecure || config.file.insecure.unwrap_or(false);
        let warning = check_bind(flag, addr, authenticated, insecure)?;
        Ok(DaemonAccess {
            listen: Listen {
                token: token.clone(),
                tls: server_tls,
            },
            members: Credentials {
                token,
                tls: member_tls,
            },
            warning,
            psk,
        })
    }
}

impl ClientAccessArgs {
    /// Reads the config file, token and CA: what every call to the coordinator carries.
    pub fn resolve(&self) -> Result<Credentials, AccessError> {
        let config = Config::read(self.config.as_deref())?;
        let token = config.token(self.token_file.as_deref())?;
        let ca = config.pick(&self.tls_ca, "--tls-ca", |t| &t.ca, "tls.ca");
        let tls = match ca {
            Some(ca) => {
                let tls = ClientTls {
                    ca: ca_certificate(&ca)?,
                    identity: None,
                };
                check_client(&tls, &ca.origin)?;
                Some(tls)
            }
            None => None,
        };
        Ok(Credentials { token, tls })
    }
}

/// A path and where it was given (a flag, or a key of a config file).
struct Setting {
    path: PathBuf,
    origin: String,
}

impl Config {
    fn read(path: Option<&Path>) -> Result<Config, AccessError> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path).map_err(|cause| AccessError::Read {
            origin: "--config".to_string(),
            path: path.to_path_buf(),
            cause,
        })?;
        let file: ConfigFile = toml::from_str(&text).map_err(|e| AccessError::Config {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        if file.token.is_some() && file.token_file.is_some() {
            return Err(AccessError::Config {
                path: path.to_path_buf(),
                message: "sets both token and token_file: keep one".to_string(),
            });
        }
        if file.token.is_some() {
            crate::auth::warn_if_readable_by_others("--config", path);
        }
        Ok(Config {
            path: Some(path.to_path_buf()),
            file,
        })
    }

    /// The flag's path if given, else the config file's (relative to the file).
    fn pick(
        &self,
        flag_value: &Option<PathBuf>,
        flag: &str,
        key: impl Fn(&TlsSection) -> &Option<PathBuf>,
        key_name: &str,
    ) -> Option<Setting> {
        if let Some(path) = flag_value {
            return Some(Setting {
                path: path.clone(),
                origin: flag.to_string(),
            });
        }
        let path = key(&self.file.tls).as_ref()?;
        Some(self.setting(path, key_name))
    }

    /// `path` from the config file, made relative to the file's directory.
    fn setting(&self, path: &Path, key_name: &str) -> Setting {
        let file = self.path.as_deref().unwrap_or(Path::new("config"));
        let dir = file.parent().unwrap_or(Path::new("."));
        Setting {
            path: dir.join(path),
            origin: format!("{key_name} in {}", file.display()),
        }
    }

    /// The pre-shared key: `--psk-file`, else the config file's `psk_file`, else none.
    fn psk(&self, flag: Option<&Path>) -> Result<Option<Psk>, AccessError> {
        let setting = match (flag, &self.file.psk_file) {
            (Some(path), _) => Setting {
                path: path.to_path_buf(),
                origin: "--psk-file".to_string(),
            },
            (None, Some(path)) => self.setting(path, "psk_file"),
            (None, None) => return Ok(None),
        };
        let bytes = read(&setting)?;
        crate::auth::warn_if_readable_by_others(&setting.origin, &setting.path);
        let secret = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let secret = secret.strip_suffix(b"\r").unwrap_or(secret);
        Psk::from_secret(secret)
            .map(Some)
            .ok_or_else(|| AccessError::ShortPsk {
                origin: setting.origin.clone(),
                path: setting.path.clone(),
                len: secret.len(),
                min: PSK_MIN_LEN,
            })
    }

    /// The token: `--token-file`, else `STILLEPOST_TOKEN`, else the config file's `token`
    /// or `token_file`, else none.
    fn token(&self, flag: Option<&Path>) -> Result<Option<Token>, AccessError> {
        if flag.is_some() || std::env::var_os(TOKEN_ENV).is_some() {
            return Ok(Token::resolve(flag)?);
        }
        if let Some(text) = &self.file.token {
            let origin = format!(
                "token in {}",
                self.path
                    .as_deref()
                    .unwrap_or(Path::new("config"))
                    .display()
            );
            return Ok(Some(Token::parse(text, &origin)?));
        }
        match &self.file.token_file {
            Some(path) => {
                let setting = self.setting(path, "token_file");
                Ok(Some(Token::from_file(&setting.path)?))
            }
            None => Ok(None),
        }
    }
}

fn half(given: &'static str, missing: &'static str) -> AccessError {
    AccessError::HalfIdentity { given, missing }
}

fn read(setting: &Setting) -> Result<Vec<u8>, AccessError> {
    std::fs::read(&setting.path).map_err(|cause| AccessError::Read {
        origin: setting.origin.clone(),
        path: setting.path.clone(),
        cause,
    })
}

fn pem_error(setting: &Setting, what: impl Into<String>) -> AccessError {
    AccessError::Pem {
        origin: setting.origin.clone(),
        path: setting.path.clone(),
        what: what.into(),
    }
}

/// The PEM bytes of a file that holds at least one certificate and nothing unreadable.
fn certificates(setting: &Setting) -> Result<Vec<u8>, AccessError> {
    let bytes = read(setting)?;
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        cert.map_err(|e| pem_error(setting, format!("not a readable PEM file: {e}")))?;
        count += 1;
    }
    if count == 0 {
        return Err(pem_error(
            setting,
            "holds no certificate (PEM, -----BEGIN CERTIFICATE-----)",
        ));
    }
    Ok(bytes)
}

fn ca_certificate(setting: &Setting) -> Result<Certificate, AccessError> {
    certificates(setting).map(Certificate::from_pem)
}

fn identity(cert: &Setting, key: &Setting) -> Result<Identity, AccessError> {
    let cert_pem = certificates(cert)?;
    let key_pem = read(key)?;
    PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        pem_error(
            key,
            format!("holds no private key (PEM: PKCS#8, PKCS#1 or SEC1): {e}"),
        )
    })?;
    crate::auth::warn_if_readable_by_others(&key.origin, &key.path);
    Ok(Identity::from_pem(cert_pem, key_pem))
}

/// Whether rustls takes the server identity (a key that does not match its certificate
/// is refused here, at start, rather than at the first connection).
fn check_server(tls: &ServerTls) -> Result<(), AccessError> {
    tonic::transport::Server::builder()
        .tls_config(tls.config())
        .map(drop)
        .map_err(|e| AccessError::Tls {
            what: "--tls-cert and --tls-key (tls.cert, tls.key)".to_string(),
            cause: crate::rpc::error_chain(&e),
        })
}

/// Whether rustls takes the client settings.
fn check_client(tls: &ClientTls, what: &str) -> Result<(), AccessError> {
    tonic::transport::Endpoint::from_static("https://localhost")
        .tls_config(tls.config())
        .map(drop)
        .map_err(|e| AccessError::Tls {
            what: what.to_string(),
            cause: crate::rpc::error_chain(&e),
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Dir {
            let dir = std::env::temp_dir()
                .join(format!("stillepost-access-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn open() -> SocketAddr {
        "0.0.0.0:7000".parse().unwrap()
    }

    fn loopback() -> SocketAddr {
        "127.0.0.1:7000".parse().unwrap()
    }

    #[test]
    fn the_config_file_gives_the_token_and_relative_paths_and_flags_win() {
        let dir = Dir::new("config");
        dir.write("token", "from-token-file\n");
        let config = dir.write("c.toml", "token_file = \"token\"\n");
        let args = DaemonAccessArgs {
            config: Some(config.clone()),
            ..DaemonAccessArgs::default()
        };
        let access = args
            .resolve(DaemonRole::Member, "--coord-bind", open())
            .unwrap();
        assert_eq!(
            access.listen.token.unwrap().bearer(),
            "Bearer from-token-file"
        );
        let other = dir.write("other", "from-the-flag\n");
        let args = DaemonAccessArgs {
            token_file: Some(other),
            ..args
        };
        let access = args
            .resolve(DaemonRole::Coordinator, "--client-bind", open())
            .unwrap();
        assert_eq!(
            access.members.token.unwrap().bearer(),
            "Bearer from-the-flag"
        );
    }

    #[test]
    fn config_file_mistakes_are_named() {
        let dir = Dir::new("mistakes");
        let resolve = |text: &str| {
            let config = dir.write("c.toml", text);
            let args = ClientAccessArgs {
                config: Some(config),
                ..ClientAccessArgs::default()
            };
            args.resolve().unwrap_err().to_string()
        };
        let err = resolve("tokn = \"x\"\n");
        assert!(
            err.starts_with("--config ") && err.contains("tokn"),
            "{err}"
        );
        let err = resolve("token = \"a\"\ntoken_file = \"b\"\n");
        assert!(
            err.ends_with("sets both token and token_file: keep one"),
            "{err}"
        );
        let err = resolve("[tls]\nca = \"missing.pem\"\n");
        assert!(
            err.starts_with("tls.ca in ") && err.contains("missing.pem: cannot read it"),
            "{err}"
        );
        let err = resolve("[tls]\nca = \"c.toml\"\n");
        assert!(err.contains("holds no certificate"), "{err}");
        let missing = dir.0.join("nope.toml");
        let err = ClientAccessArgs {
            config: Some(missing.clone()),
            ..ClientAccessArgs::default()
        }
        .resolve()
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(&format!("--config {}: cannot read it", missing.display())),
            "{err}"
        );
    }

    #[test]
    fn insecure_comes_from_the_flag_or_the_file() {
        let dir = Dir::new("insecure");
        let refused = DaemonAccessArgs::default()
            .resolve(DaemonRole::Coordinator, "--client-bind", open())
            .unwrap_err();
        assert!(matches!(refused, AccessError::InsecureBind(_)), "{refused}");
        let config = dir.write("c.toml", "insecure = true\n");
        let args = DaemonAccessArgs {
            config: Some(config),
            ..DaemonAccessArgs::default()
        };
        let access = args
            .resolve(DaemonRole::Coordinator, "--client-bind", open())
            .unwrap();
        assert!(access.warning.is_some());
        let access = DaemonAccessArgs::default()
            .resolve(DaemonRole::Member, "--coord-bind", loopback())
            .unwrap();
        assert!(access.warning.is_none() && access.listen.token.is_none());
    }

    #[test]
    fn a_psk_is_read_for_members_only_and_a_short_one_refused() {
        let dir = Dir::new("psk");
        let short = dir.write("short", "0123456789abcde\n");
        let long = dir.write("long", "0123456789abcdef\n");
        let config = dir.write("c.toml", "psk_file = \"long\"\n");
        let member = |args: DaemonAccessArgs| args.resolve(DaemonRole::Member, "--x", loopback());
        let from_file = DaemonAccessArgs {
            config: Some(config.clone()),
            ..DaemonAccessArgs::default()
        };
        assert_eq!(
            member(from_file.clone()).unwrap().psk,
            Psk::from_secret(b"0123456789abcdef")
        );
        let err = member(DaemonAccessArgs {
            psk_file: Some(short.clone()),
            ..from_file.clone()
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(&format!("--psk-file {}: holds 15 bytes", short.display())),
            "{err}"
        );
        // A coordinator ignores the shared file's psk_file and refuses the flag.
        let coordinator =
            |args: DaemonAccessArgs| args.resolve(DaemonRole::Coordinator, "--x", loopback());
        assert_eq!(coordinator(from_file).unwrap().psk, None);
        let flag = DaemonAccessArgs {
            psk_file: Some(long),
            ..DaemonAccessArgs::default()
        };
        assert!(matches!(
            coordinator(flag).unwrap_err(),
            AccessError::PskOnCoordinator
        ));
    }

    /// A CA, and a certificate it signed for 127.0.0.1 with its key, as PEM files in `dir`.
    fn pki(dir: &Dir) -> (PathBuf, PathBuf, PathBuf) {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        (
            dir.write("ca.pem", &ca.pem()),
            dir.write("cert.pem", &cert.pem()),
            dir.write("key.pem", &key.serialize_pem()),
        )
    }

    /// A member that requires client certificates is closed to callers without one, so it
    /// may listen on a non-loopback address without a token; a coordinator, which does not
    /// ask clients for certificates, may not.
    #[test]
    fn client_certificates_stand_in_for_the_token_on_members_only() {
        let dir = Dir::new("mtls");
        let (ca, cert, key) = pki(&dir);
        let args = DaemonAccessArgs {
            tls_cert: Some(cert),
            tls_key: Some(key),
            tls_ca: Some(ca),
            ..DaemonAccessArgs::default()
        };
        let member = args
            .resolve(DaemonRole::Member, "--coord-bind", open())
            .unwrap();
        assert_eq!(member.warning, None);
        assert_eq!(
            member.listen.describe(),
            "TLS with client certificates, no token"
        );
        let refused = args
            .resolve(DaemonRole::Coordinator, "--client-bind", open())
            .unwrap_err();
        assert!(matches!(refused, AccessError::InsecureBind(_)), "{refused}");
        let coordinator = args
            .resolve(DaemonRole::Coordinator, "--client-bind", loopback())
            .unwrap();
        assert_eq!(coordinator.listen.describe(), "TLS, no token");
        assert!(coordinator.members.tls.is_some());
    }

    #[test]
    fn half_an_identity_and_a_client_ca_without_tls_are_refused() {
        let dir = Dir::new("half");
        let pem = dir.write("x.pem", "");
        let args = DaemonAccessArgs {
            tls_cert: Some(pem.clone()),
            ..DaemonAccessArgs::default()
        };
        let err = args
            .resolve(DaemonRole::Member, "--coord-bind", loopback())
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--tls-cert is set but --tls-key is not"),
            "{err}"
        );
        let args = DaemonAccessArgs {
            tls_ca: Some(pem),
            ..DaemonAccessArgs::default()
        };
        let err = args
            .resolve(DaemonRole::Member, "--coord-bind", loopback())
            .unwrap_err();
        assert!(matches!(err, AccessError::ClientCaWithoutTls), "{err}");
    }
}

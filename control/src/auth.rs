//! The control plane's shared token: where it comes from (a file or `STILLEPOST_TOKEN`,
//! never a flag value, so that it stays out of process listings), how it is checked (in
//! constant time), and which listening addresses may go without one. The tonic
//! interceptors that send and require it are in [`crate::rpc`] and [`crate::service`];
//! docs/security.md says what the token protects and what it does not.
#![forbid(unsafe_code)]

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The environment variable a token may come from instead of `--token-file`.
pub const TOKEN_ENV: &str = "STILLEPOST_TOKEN";
/// The gRPC metadata key the token travels in, as `Bearer <token>`.
pub const AUTHORIZATION: &str = "authorization";
const BEARER: &str = "Bearer ";

/// The shared secret every control call carries. Its `Debug` prints `Token(***)`, and it
/// has no `Display`, so it cannot end up in a log line or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Arc<str>);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// Why no token could be read. The texts name where the token was looked for, never the
/// token itself.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token file cannot be read.
    #[error("--token-file {}: cannot read it: {cause}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the file system said (in the text, so not a `source` too).
        cause: std::io::Error,
    },
    /// The file or variable holds nothing (after the trailing newline).
    #[error("{0} is empty: a token must hold at least one character")]
    Empty(String),
    /// The token holds a character that cannot travel in a gRPC header.
    #[error(
        "{0} holds a character other than printable ASCII (space, tab and control characters included): a token is one line of visible ASCII"
    )]
    NotPrintable(String),
}

impl Token {
    /// Makes a token of `text` as read from `origin` (named in errors): the trailing
    /// newline (`\n` or `\r\n`) is dropped; what is left must be non-empty visible ASCII.
    pub fn parse(text: &str, origin: &str) -> Result<Token, TokenError> {
        let text = text.strip_suffix('\n').unwrap_or(text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.is_empty() {
            return Err(TokenError::Empty(origin.to_string()));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::NotPrintable(origin.to_string()));
        }
        Ok(Token(text.into()))
    }

    /// Reads a token file. A file that group or others may read is used, with a warning
    /// naming it.
    pub fn from_file(path: &Path) -> Result<Token, TokenError> {
        let read_error = |cause| TokenError::Read {
            path: path.to_path_buf(),
            cause,
        };
        let text = std::fs::read_to_string(path).map_err(read_error)?;
        warn_if_readable_by_others("--token-file", path);
        Token::parse(&text, &format!("--token-file {}", path.display()))
    }

    /// The token from `--token-file` when given, else from `STILLEPOST_TOKEN` when set,
    /// else none.
    pub fn resolve(file: Option<&Path>) -> Result<Option<Token>, TokenError> {
        if let Some(path) = file {
            return Token::from_file(path).map(Some);
        }
        match std::env::var(TOKEN_ENV) {
            Ok(text) => Token::parse(&text, TOKEN_ENV).map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(TokenError::NotPrintable(TOKEN_ENV.to_string()))
            }
        }
    }

    /// A fresh random token (64 hex digits), for a ring that lives inside one process.
    pub fn random() -> Token {
        let bytes: [u8; 32] = rand::random();
        let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Token(text.into())
    }

    /// The secret itself, for keys derived from it (never printed).
    pub(crate) fn secret(&self) -> &str {
        &self.0
    }

    /// The `authorization` metadata value that carries this token.
    pub fn bearer(&self) -> String {
        format!("{BEARER}{}", self.0)
    }

    /// Checks the `authorization` value a request carried (None: it carried none), in
    /// time that does not depend on how much of it matches.
    pub fn check(&self, presented: Option<&[u8]>) -> Result<(), AuthError> {
        let presented = presented.ok_or(AuthError::Missing)?;
        let token = presented
            .strip_prefix(BEARER.as_bytes())
            .ok_or(AuthError::Wrong)?;
        if constant_time_eq::constant_time_eq(token, self.0.as_bytes()) {
            Ok(())
        } else {
            Err(AuthError::Wrong)
        }
    }
}

/// Logs a warning naming a secret file (given by `origin`) that group or others may read.
pub(crate) fn warn_if_readable_by_others(origin: &str, path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o044 != 0 {
        tracing::warn!(
            "{origin} {}: group or others may read it (mode {mode:o}); chmod 600 it",
            path.display()
        );
    }
}

/// Why a request was refused before it reached a core. `crate::service` maps it to
/// `Unauthenticated`, next to the cores' errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The request carried no token.
    #[error("it carried no token")]
    Missing,
    /// The request carried a token that is not this daemon's.
    #[error("its token is not this daemon's")]
    Wrong,
}

/// A daemon that listens on a non-loopback address without a token and without
/// `--insecure`.
#[derive(Debug, thiserror::Error)]
#[error(
    "{flag} {addr} is not a loopback address and no token is set: pass --token-file <path> or set {TOKEN_ENV} (the same token on the coordinator, its members and the client), or pass --insecure to let anyone who reaches {addr} use this daemon"
)]
pub struct InsecureBind {
    /// The flag that gave the address.
    pub flag: &'static str,
    /// The address.
    pub addr: SocketAddr,
}

/// What a daemon listening on `addr` (given by `flag`) may do: `Ok(None)` start quietly;
/// `Ok(Some(warning))` start and log the warning (a non-loopback address whose callers are
/// not `authenticated` by a token or a client certificate, with `--insecure`); `Err`
/// refuse to start.
pub fn check_bind(
    flag: &'static str,
    addr: SocketAddr,
    authenticated: bool,
    insecure: bool,
) -> Result<Option<String>, InsecureBind> {
    if authenticated || addr.ip().to_canonical().is_loopback() {
        return Ok(None);
    }
    if insecure {
        return Ok(Some(format!(
            "{flag} {addr} is not a loopback address and --insecure runs it without a token: anyone who reaches it can configure and read the ring"
        )));
    }
    Err(InsecureBind { flag, addr })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let token = Token::parse("s3cret\n", "test").unwrap();
        assert_eq!(format!("{token:?}"), "Token(***)");
        assert_eq!(format!("{:?}", Some(token)), "Some(Token(***))");
    }

    #[test]
    fn a_trailing_newline_is_dropped_and_nothing_else() {
        let token = Token::parse("s3cret\r\n", "test").unwrap();
        assert_eq!(token.bearer(), "Bearer s3cret");
        assert_eq!(Token::parse("s3cret", "test").unwrap(), token);
        assert!(matches!(
            Token::parse("s3cret \n", "f").unwrap_err(),
            TokenError::NotPrintable(_)
        ));
        assert!(matches!(
            Token::parse("two\nlines\n", "f").unwrap_err(),
            TokenError::NotPrintable(_)
        ));
    }

    #[test]
    fn an_empty_token_is_refused_naming_its_origin() {
        for text in ["", "\n", "\r\n"] {
            assert_eq!(
                Token::parse(text, "--token-file /etc/t")
                    .unwrap_err()
                    .to_string(),
                "--token-file /etc/t is empty: a token must hold at least one character"
            );
        }
    }

    #[test]
    fn check_accepts_only_the_same_token_as_a_bearer() {
        let token = Token::parse("s3cret", "test").unwrap();
        assert_eq!(token.check(Some(b"Bearer s3cret")), Ok(()));
        assert_eq!(token.check(None), Err(AuthError::Missing));
        for wrong in [
            &b"Bearer s3cre"[..],
            b"Bearer s3cret2",
            b"Bearer S3cret",
            b"s3cret",
            b"Basic s3cret",
            b"Bearer ",
            b"",
        ] {
            assert_eq!(token.check(Some(wrong)), Err(AuthError::Wrong), "{wrong:?}");
        }
    }

    #[test]
    fn random_tokens_are_valid_and_differ() {
        let (a, b) = (Token::random(), Token::random());
        assert_ne!(a, b);
        assert_eq!(a.bearer().len(), "Bearer ".len() + 64);
        assert_eq!(a.check(Some(a.bearer().as_bytes())), Ok(()));
    }

    #[test]
    fn only_non_loopback_binds_without_a_token_need_insecure() {
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        for loopback in [
            "127.0.0.1:7000",
            "127.3.2.1:0",
            "[::1]:7000",
            "[::ffff:127.0.0.1]:1",
        ] {
            assert_eq!(check_bind("--x", at(loopback), false, false).unwrap(), None);
        }
        for open in ["0.0.0.0:7000", "10.1.2.3:7000", "[::]:7000"] {
            assert_eq!(check_bind("--x", at(open), true, false).unwrap(), None);
            assert!(check_bind("--x", at(open), false, true).unwrap().is_some());
        }
        assert_eq!(
            check_bind("--client-bind", at("0.0.0.0:7000"), false, false)
                .unwrap_err()
                .to_string(),
            "--client-bind 0.0.0.0:7000 is not a loopback address and no token is set: pass --token-file <path> or set STILLEPOST_TOKEN (the same token on the coordinator, its members and the client), or pass --insecure to let anyone who reaches 0.0.0.0:7000 use this daemon"
        );
    }

    #[test]
    fn a_token_file_is_read_and_a_missing_one_named() {
        let dir = std::env::temp_dir().join(format!("stillepost-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "from-a-file\n").unwrap();
        assert_eq!(
            Token::from_file(&path).unwrap().bearer(),
            "Bearer from-a-file"
        );
        let missing = dir.join("missing");
        let err = Token::from_file(&missing).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "--token-file {}: cannot read it: ",
                missing.display()
            )),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

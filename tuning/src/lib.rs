//! Reads the kernel settings that decide whether a tour's datagrams fit the sockets'
//! buffers, and explains what to change. Everything reads from a `/proc/sys` root that
//! tests can replace with a directory of their own.
#![forbid(unsafe_code)]

use std::fmt;
use std::path::{Path, PathBuf};

mod check;
pub mod drops;
pub use check::{Check, Host, Status, Workload, apply, check, render, sysctl_conf};

/// Why a setting could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TuningError {
    /// The file behind a sysctl could not be read.
    #[error("cannot read sysctl {name} ({}): {cause}", path.display())]
    Read {
        /// Dotted sysctl name.
        name: String,
        /// File read.
        path: PathBuf,
        /// The OS error.
        cause: std::io::Error,
    },
    /// Sysctls could not be written (the others were).
    #[error(
        "cannot set {}; writing net.* sysctls needs root or CAP_NET_ADMIN in the host's network namespace (in a container, set them on the host){}",
        failed.join(", "),
        if set.is_empty() { String::new() } else { format!("; set: {}", set.join(", ")) }
    )]
    Apply {
        /// `name (path): error` of every sysctl that could not be set.
        failed: Vec<String>,
        /// `name = value` of those that were.
        set: Vec<String>,
    },
    /// The file did not hold a number.
    #[error("sysctl {name} holds '{value}', not a number")]
    NotANumber {
        /// Dotted sysctl name.
        name: String,
        /// What it held.
        value: String,
    },
}

/// Where sysctls are read from: `/proc/sys` on a live system.
#[derive(Debug, Clone)]
pub struct Sysctls {
    root: PathBuf,
}

impl Default for Sysctls {
    fn default() -> Sysctls {
        Sysctls::new("/proc/sys")
    }
}

impl Sysctls {
    /// Reads sysctls below `root` (a `/proc/sys` or a copy of one).
    pub fn new(root: impl AsRef<Path>) -> Sysctls {
        Sysctls {
            root: root.as_ref().to_path_buf(),
        }
    }

    /// Reads a numeric sysctl by its dotted name (`net.core.rmem_max`).
    pub fn read_u64(&self, name: &str) -> Result<u64, TuningError> {
        let path = self.root.join(name.replace('.', "/"));
        let text = std::fs::read_to_string(&path).map_err(|cause| TuningError::Read {
            name: name.to_string(),
            path: path.clone(),
            cause,
        })?;
        let value = text.split_whitespace().next().unwrap_or("");
        value.parse().map_err(|_| TuningError::NotANumber {
            name: name.to_string(),
            value: text.trim().to_string(),
        })
    }
}

/// One setting to change, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advice {
    /// Dotted sysctl name.
    pub sysctl: &'static str,
    /// Its value now.
    pub current: u64,
    /// The value to set.
    pub recommended: u64,
    /// Why, in the terms of the tour.
    pub reason: String,
}

impl fmt::Display for Advice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} → {} ({}); as root or with CAP_NET_ADMIN: sysctl -w {}={}",
            self.sysctl, self.current, self.recommended, self.reason, self.sysctl, self.recommended
        )
    }
}

/// The receive buffer a socket needs to queue `in_flight` datagrams of `datagram_len`
/// bytes: each queued datagram is charged its payload plus the kernel's per-skb overhead.
pub fn receive_buffer_needed(datagram_len: u64, in_flight: u64) -> u64 {
    /// Bytes the kernel charges per queued datagram beyond its payload (skb, truesize).
    const PER_DATAGRAM_OVERHEAD: u64 = 1024;
    in_flight.saturating_mul(datagram_len + PER_DATAGRAM_OVERHEAD)
}

/// Whether `net.core.rmem_max` lets an unprivileged socket ask for `needed` bytes; if not,
/// what to raise it to (the next power of two at or above `needed`).
pub fn advise_rmem_max(sysctls: &Sysctls, needed: u64) -> Result<Option<Advice>, TuningError> {
    advise_max(
        sysctls,
        "net.core.rmem_max",
        needed,
        format!(
            "a member's peer socket must queue {needed} B of datagrams in flight, but unprivileged sockets get at most rmem_max"
        ),
    )
}

/// Whether `net.core.wmem_max` lets an unprivileged socket ask for `needed` bytes; if not,
/// what to raise it to (the next power of two at or above `needed`).
pub fn advise_wmem_max(sysctls: &Sysctls, needed: u64) -> Result<Option<Advice>, TuningError> {
    advise_max(
        sysctls,
        "net.core.wmem_max",
        needed,
        format!(
            "a member may send {needed} B of datagrams at once (a window of messages), but unprivileged sockets get at most wmem_max"
        ),
    )
}

fn advise_max(
    sysctls: &Sysctls,
    sysctl: &'static str,
    needed: u64,
    reason: String,
) -> Result<Option<Advice>, TuningError> {
    let current = sysctls.read_u64(sysctl)?;
    if current >= needed {
        return Ok(None);
    }
    Ok(Some(Advice {
        sysctl,
        current,
        recommended: needed.next_power_of_two(),
        reason,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_root(rmem_max: &str) -> (PathBuf, Sysctls) {
        let dir = std::env::temp_dir().join(format!(
            "stillepost-tuning-{}-{}",
            std::process::id(),
            rmem_max.trim()
        ));
        std::fs::create_dir_all(dir.join("net/core")).unwrap();
        std::fs::write(dir.join("net/core/rmem_max"), rmem_max).unwrap();
        let sysctls = Sysctls::new(&dir);
        (dir, sysctls)
    }

    #[test]
    fn advises_raising_rmem_max_only_when_too_small() {
        let (dir, sysctls) = fake_root("212992\n");
        assert_eq!(sysctls.read_u64("net.core.rmem_max").unwrap(), 212_992);
        let needed = receive_buffer_needed(1024, 1000);
        assert_eq!(needed, 2_048_000);
        let advice = advise_rmem_max(&sysctls, needed).unwrap().unwrap();
        assert_eq!(
            advice.to_string(),
            "net.core.rmem_max: 212992 → 2097152 (a member's peer socket must queue 2048000 B of datagrams in flight, but unprivileged sockets get at most rmem_max); as root or with CAP_NET_ADMIN: sysctl -w net.core.rmem_max=2097152"
        );
        assert_eq!(advise_rmem_max(&sysctls, 212_992).unwrap(), None);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn errors_name_the_sysctl() {
        let (dir, sysctls) = fake_root("lots");
        let err = sysctls.read_u64("net.core.rmem_max").unwrap_err();
        assert_eq!(
            err.to_string(),
            "sysctl net.core.rmem_max holds 'lots', not a number"
        );
        let err = sysctls.read_u64("net.core.wmem_max").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read sysctl net.core.wmem_max (")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}

//! A lab of network namespaces for tests that need real links: one namespace per member,
//! each with a veth pair whose other end is on a bridge in a "hub" namespace, all on
//! 198.18.0.0/24 (the benchmarking range, RFC 2544). Nothing is created in the caller's own
//! namespace, and everything is removed when the lab is dropped, also when a test fails
//! (namespaces left by a killed test run are removed by the next one).
//!
//! Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and `ip`/`tc` from iproute2. Without them,
//! [`Lab::new`] says why and the test skips, unless `STILLEPOST_REQUIRE_NETNS=1` (set by
//! `.ci/run`) or `CI=true`, which turn the skip into a failure (see `support::skip`).

use std::process::{Command, Output, Stdio};

/// The variable that, set to `1`, makes a lab that cannot be built a failure.
const REQUIRE: &str = "STILLEPOST_REQUIRE_NETNS";

/// Every namespace this lab creates starts with this.
const PREFIX: &str = "stillepost-t";

/// Namespaces for `n` members and a hub.
pub struct Lab {
    /// `<prefix><pid>-<k>`, unique to this process and lab.
    name: String,
    members: usize,
    /// MTU of every link.
    mtu: u32,
}

fn run(args: &[&str]) -> Result<Output, String> {
    Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))
}

fn run_ok(args: &[&str]) -> Result<(), String> {
    let out = run(args)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Why namespace tests cannot run here, if they cannot.
fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("network-namespace tests need root (ip netns add)".into());
    }
    for tool in ["ip", "tc"] {
        if run(&[tool, "-V"]).is_err() {
            return Some(format!(
                "network-namespace tests need `{tool}` (Debian: iproute2)"
            ));
        }
    }
    None
}

/// Removes namespaces of earlier runs whose process is gone.
fn remove_stale() {
    let Ok(out) = run(&["ip", "netns", "list"]) else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = run(&["ip", "netns", "del", name]);
        }
    }
}

impl Lab {
    /// Creates the lab, or `None` where it cannot (after saying why, see
    /// [`super::skip_unless_required`]: it fails instead when `STILLEPOST_REQUIRE_NETNS=1`
    /// or `CI=true`); the caller returns.
    pub fn new(members: usize) -> Option<Lab> {
        Lab::with_mtu(members, 1500)
    }

    /// A lab whose links (veth pairs and bridge) have this MTU.
    pub fn with_mtu(members: usize, mtu: u32) -> Option<Lab> {
        if let Some(reason) = unavailable() {
            super::skip_unless_required(Some(REQUIRE), &reason);
            return None;
        }
        remove_stale();
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let lab = Lab {
            name: format!(
                "{PREFIX}{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ),
            members,
            mtu,
        };
        // From here on, Drop removes whatever was made.
        if let Err(e) = lab.build() {
            // Root without the capabilities (an unprivileged container) cannot either.
            super::skip_unless_required(
                Some(REQUIRE),
                &format!("cannot build the namespace lab: {e}"),
            );
            return None;
        }
        Some(lab)
    }

    fn build(&self) -> Result<(), String> {
        let hub = self.hub();
        run_ok(&["ip", "netns", "add", &hub])?;
        self.in_ns(&hub, &["ip", "link", "set", "lo", "up"])?;
        self.in_ns(&hub, &["ip", "link", "add", "br0", "type", "bridge"])?;
        self.in_ns(
            &hub,
            &[
                "ip",
                "addr",
                "add",
                &format!("{}/24", self.hub_ip()),
                "dev",
                "br0",
            ],
        )?;
        self.in_ns(&hub, &["ip", "link", "set", "br0", "up"])?;
        for i in 0..self.members {
            let ns = self.member(i);
            run_ok(&["ip", "netns", "add", &ns])?;
            self.in_ns(&ns, &["ip", "link", "set", "lo", "up"])?;
            // The pair is made in the member's namespace, its hub end moved to the hub.
            let (inner, outer) = (format!("m{i}"), format!("h{i}"));
            let mtu = self.mtu.to_string();
            self.in_ns(
                &ns,
                &[
                    "ip", "link", "add", &inner, "mtu", &mtu, "type", "veth", "peer", "name",
                    &outer, "mtu", &mtu,
                ],
            )?;
            self.in_ns(&ns, &["ip", "link", "set", &outer, "netns", &hub])?;
            self.in_ns(
                &ns,
                &[
                    "ip",
                    "addr",
                    "add",
                    &format!("{}/24", self.ip(i)),
                    "dev",
                    &inner,
                ],
            )?;
            self.in_ns(&ns, &["ip", "link", "set", &inner, "up"])?;
            self.in_ns(&hub, &["ip", "link", "set", &outer, "master", "br0"])?;
            self.in_ns(&hub, &["ip", "link", "set", &outer, "up"])?;
        }
        Ok(())
    }

    /// Runs a command in namespace `ns`; an error carries its stderr.
    pub fn in_ns(&self, ns: &str, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["ip", "netns", "exec", ns];
        all.extend_from_slice(args);
        run_ok(&all)
    }

    /// The hub namespace (bridge, coordinator, client).
    pub fn hub(&self) -> String {
        format!("{}-hub", self.name)
    }

    /// Member `i`'s namespace.
    pub fn member(&self, i: usize) -> String {
        format!("{}-m{i}", self.name)
    }

    /// The hub's address on the bridge.
    pub fn hub_ip(&self) -> String {
        "198.18.0.254".to_string()
    }

    /// Member `i`'s address.
    pub fn ip(&self, i: usize) -> String {
        format!("198.18.0.{}", i + 1)
    }

    /// A command that runs `program` in namespace `ns`.
    pub fn command(&self, ns: &str, program: &std::path::Path) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", ns]).arg(program);
        command
    }

    /// Shapes member `i`'s outgoing link (its veth end) with a token bucket:
    /// `rate` (tc syntax, e.g. "100mbit"), `burst` bytes, `limit` bytes of queue.
    pub fn shape(&self, i: usize, rate: &str, burst: u32, limit: u32) -> Result<(), String> {
        self.in_ns(
            &self.member(i),
            &[
                "tc",
                "qdisc",
                "replace",
                "dev",
                &format!("m{i}"),
                "root",
                "tbf",
                "rate",
                rate,
                "burst",
                &burst.to_string(),
                "limit",
                &limit.to_string(),
            ],
        )
    }

    /// Removes member `i`'s shaping.
    pub fn unshape(&self, i: usize) -> Result<(), String> {
        self.in_ns(
            &self.member(i),
            &["tc", "qdisc", "del", "dev", &format!("m{i}"), "root"],
        )
    }

    /// A counter of `/proc/net/snmp` (e.g. "Ip", "ReasmReqds") in member `i`'s namespace.
    pub fn snmp(&self, i: usize, group: &str, field: &str) -> u64 {
        let out = run(&[
            "ip",
            "netns",
            "exec",
            &self.member(i),
            "cat",
            "/proc/net/snmp",
        ])
        .expect("read /proc/net/snmp");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let rows: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with(&format!("{group}:")))
            .collect();
        let (names, values) = (rows[0], rows[1]);
        let index = names
            .split_whitespace()
            .position(|n| n == field)
            .unwrap_or_else(|| panic!("{group} {field} not in /proc/net/snmp"));
        values
            .split_whitespace()
            .nth(index)
            .unwrap()
            .parse()
            .unwrap()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting a namespace deletes its veth ends, and with them their peers.
        for i in 0..self.members {
            let _ = run(&["ip", "netns", "del", &self.member(i)]);
        }
        let _ = run(&["ip", "netns", "del", &self.hub()]);
    }
}

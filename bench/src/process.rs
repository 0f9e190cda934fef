//! Bounded subprocesses. Every child has a deadline and is killed when it passes; a child
//! running in the background (the sockperf server) is killed when its guard is dropped, so
//! also on every error path, and by the kernel when the bench itself dies
//! (`PR_SET_PDEATHSIG`).

use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How often a waiting bench looks at its child; small against every run it bounds.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// What a child printed and how it ended.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// Fails, quoting the end of stderr (or stdout), unless the child exited with status 0.
    pub fn success(self, line: &str) -> Result<Self> {
        if self.status.success() {
            return Ok(self);
        }
        let said = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        bail!("`{line}` failed ({}): {}", self.status, tail(said, 12));
    }
}

/// The last `lines` lines of `text`, trimmed, for error messages.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A command as a shell would accept it, for logs and reports.
pub fn command_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ")
}

fn quote(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./,:=+@%".contains(c));
    if plain {
        word.into_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A spawned child whose output is being collected. Dropping it kills and reaps the child.
#[derive(Debug)]
struct Running {
    child: Child,
    line: String,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    status: Option<ExitStatus>,
}

impl Running {
    /// Spawns `cmd` with piped output and no stdin. Call it from the main thread only: the
    /// parent-death signal fires when the spawning *thread* ends.
    fn spawn(cmd: &mut Command) -> Result<Self> {
        let line = command_line(cmd);
        let parent = std::process::id();
        // SAFETY: the closure runs in the forked child before exec and only calls prctl(2)
        // and getppid(2), which are async-signal-safe and read or write no memory of ours.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(io::Error::last_os_error());
                }
                // The bench may have died between fork and prctl; then nobody would kill us.
                if u32::try_from(libc::getppid()).ok() != Some(parent) {
                    return Err(io::Error::other("the bench exited while starting a child"));
                }
                Ok(())
            });
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start `{line}`"))?;
        let stdout = child.stdout.take().map(drain::<ChildStdout>);
        let stderr = child.stderr.take().map(drain::<ChildStderr>);
        Ok(Self {
            child,
            line,
            stdout,
            stderr,
            status: None,
        })
    }

    /// The exit status if the child has ended (it is then reaped).
    fn poll(&mut self) -> Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self
                .child
                .try_wait()
                .with_context(|| format!("cannot wait for `{}`", self.line))?;
        }
        Ok(self.status)
    }

    /// Waits until the child ends or `deadline` passes; `None` means it is still running.
    fn wait_until(&mut self, deadline: Instant) -> Result<Option<ExitStatus>> {
        loop {
            if let Some(status) = self.poll()? {
                return Ok(Some(status));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            thread::sleep(POLL_INTERVAL.min(deadline - now));
        }
    }

    /// Sends `signal` to the child unless it has already ended.
    fn signal(&mut self, signal: libc::c_int) -> Result<()> {
        if self.poll()?.is_some() {
            return Ok(());
        }
        let pid = libc::pid_t::try_from(self.child.id())?;
        // SAFETY: kill(2) takes plain integers and touches no memory. `pid` is our child,
        // not yet reaped (poll just saw it running and only we wait for it), so the pid
        // cannot have been reused by another process.
        let rc = unsafe { libc::kill(pid, signal) };
        if rc == -1 {
            return Err(io::Error::last_os_error())
                .with_context(|| format!("cannot signal `{}`", self.line));
        }
        Ok(())
    }

    /// Kills (SIGKILL) and reaps the child if it is still running.
    fn kill(&mut self) -> Result<ExitStatus> {
        if let Some(status) = self.poll()? {
            return Ok(status);
        }
        // An error here means it has just exited; `wait` below reaps it either way.
        let _ = self.child.kill();
        let status = self
            .child
            .wait()
            .with_context(|| format!("cannot reap `{}`", self.line))?;
        self.status = Some(status);
        Ok(status)
    }

    /// The collected output of a child that has ended.
    fn finish(mut self, status: ExitStatus) -> Finished {
        let stdout = join_text(self.stdout.take());
        let stderr = join_text(self.stderr.take());
        Finished {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Nothing to report to from here; the kill is best effort by necessity.
        let _ = self.kill();
    }
}

/// Reads a pipe to its end on a thread, so a chatty child never blocks on a full pipe.
fn drain<R: Read + Send + 'static>(mut pipe: R) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        // A read error ends the capture; what was read so far is still worth reporting.
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

fn join_text(handle: Option<JoinHandle<Vec<u8>>>) -> String {
    let bytes = handle
        .and_then(|handle| handle.join().ok())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Runs `cmd` to its end, killing it if it takes longer than `timeout`.
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> Result<Finished> {
    let mut running = Running::spawn(cmd)?;
    match running.wait_until(Instant::now() + timeout)? {
        Some(status) => Ok(running.finish(status)),
        None => {
            running.kill()?;
            bail!(
                "`{}` did not finish within {} s and was killed",
                running.line,
                timeout.as_secs_f64()
            );
        }
    }
}

/// A child that runs while the bench does other work, such as a server. It is killed when
/// this guard is dropped.
#[derive(Debug)]
pub struct Background {
    running: Running,
}

impl Background {
    pub fn start(cmd: &mut Command) -> Result<Self> {
        Ok(Self {
            running: Running::spawn(cmd)?,
        })
    }

    /// The command line it was started with.
    pub fn line(&self) -> &str {
        &self.running.line
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> Result<bool> {
        Ok(self.running.poll()?.is_none())
    }

    /// Asks it to end with SIGINT (a sockperf server prints its totals then), waits up to
    /// `grace`, then kills it. Returns what it printed; a kill is an error.
    pub fn interrupt(mut self, grace: Duration) -> Result<Finished> {
        self.running.signal(libc::SIGINT)?;
        match self.running.wait_until(Instant::now() + grace)? {
            Some(status) => {
                let running = self.into_running();
                Ok(running.finish(status))
            }
            None => {
                self.running.kill()?;
                bail!(
                    "`{}` did not end within {} s of SIGINT and was killed",
                    self.running.line,
                    grace.as_secs_f64()
                );
            }
        }
    }

    /// Kills it and returns what it printed (for error messages about a failed start).
    pub fn kill(mut self) -> Result<Finished> {
        let status = self.running.kill()?;
        Ok(self.into_running().finish(status))
    }

    fn into_running(self) -> Running {
        self.running
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_are_quoted_only_where_a_shell_needs_it() {
        let mut cmd = Command::new("sockperf");
        cmd.args(["ping-pong", "-i", "127.0.0.1", "--mps=max", "it's here", ""]);
        assert_eq!(
            command_line(&cmd),
            r"sockperf ping-pong -i 127.0.0.1 --mps=max 'it'\''s here' ''"
        );
    }

    #[test]
    fn a_child_that_ends_in_time_gives_its_output() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let finished = run_bounded(&mut cmd, Duration::from_secs(10)).unwrap();
        assert_eq!(finished.status.code(), Some(3));
        assert_eq!(finished.stdout, "out\n");
        assert_eq!(finished.stderr, "err\n");
        let error = finished.success("sh -c ...").unwrap_err().to_string();
        assert!(error.ends_with(": err"), "{error}");
    }

    #[test]
    fn a_child_past_its_deadline_is_killed() {
        let started = Instant::now();
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let error = run_bounded(&mut cmd, Duration::from_millis(200)).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(
            error.to_string(),
            "`sleep 30` did not finish within 0.2 s and was killed"
        );
    }

    #[test]
    fn a_background_child_gets_sigint_and_its_handler_output_is_kept() {
        let mut cmd = Command::new("sh");
        // The trap prints what a sockperf server prints on SIGINT: its totals.
        cmd.args([
            "-c",
            "trap 'echo total 42; exit 0' INT; echo ready; while :; do sleep 0.01; done",
        ]);
        let mut server = Background::start(&mut cmd).unwrap();
        thread::sleep(Duration::from_millis(200));
        assert!(server.is_running().unwrap());
        let finished = server.interrupt(Duration::from_secs(5)).unwrap();
        assert_eq!(finished.stdout, "ready\ntotal 42\n");
    }

    #[test]
    fn a_dropped_background_child_is_killed() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let server = Background::start(&mut cmd).unwrap();
        let pid = server.running.child.id();
        drop(server);
        // Reaped by the drop: no such process any more.
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
}

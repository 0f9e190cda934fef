//! A closed stdout (`stillepost status | (exec 0<&-; true)`, `stillepost run --json | head
//! -3`) ends every command quietly with status 141, as a Unix filter ended by SIGPIPE,
//! never with a panic; the daemons keep serving when their stdout's reader is gone.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod support;

use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Output, Stdio};

use support::{Cluster, assert_success, bin, stderr};

/// The write end of a pipe whose read end is already closed.
fn closed_pipe() -> OwnedFd {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array it is given.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fds[0] is the read end pipe2 just opened and nothing else holds.
    unsafe { libc::close(fds[0]) };
    // SAFETY: fds[1] is the write end pipe2 just opened; the OwnedFd takes it over.
    unsafe { OwnedFd::from_raw_fd(fds[1]) }
}

/// `stillepost args` with stdout into a closed pipe.
fn into_closed_pipe(args: &[&str]) -> Output {
    Command::new(bin("stillepost"))
        .args(args)
        .env_remove("STILLEPOST_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::from(closed_pipe()))
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn assert_quiet_end(args: &[&str], out: &Output) {
    let text = stderr(out);
    assert!(!text.contains("panicked"), "{args:?}: {text}");
    assert_eq!(out.status.code(), Some(141), "{args:?}: {text}");
    assert!(text.trim().is_empty(), "{args:?} said: {text}");
}

#[test]
fn every_command_ends_quietly_on_a_closed_stdout() {
    let cluster = Cluster::start("auto", 2);
    let cluster_arg = cluster.cluster_arg();
    let coordinator = cluster.coordinator_addr.as_str();
    let configure = [
        "--coordinator",
        coordinator,
        "configure",
        "--cluster",
        &cluster_arg,
        "--msgcount",
        "20",
    ];
    let out = into_closed_pipe(&configure);
    assert_quiet_end(&configure, &out);
    let commands: [&[&str]; 9] = [
        &["--coordinator", coordinator, "status"],
        &["--coordinator", coordinator, "status", "--json"],
        &["--coordinator", coordinator, "run"],
        &["--coordinator", coordinator, "run", "--json"],
        &["--coordinator", coordinator, "report", "latest"],
        &["--coordinator", coordinator, "echo-members"],
        &["tune"],
        &["tune", "--json"],
        &["local", "--msgcount", "20"],
    ];
    for args in commands {
        let out = into_closed_pipe(args);
        assert_quiet_end(args, &out);
    }
    // The ring still works, and the tours run into the closed pipes happened.
    assert_success(&cluster.client(&["status"]));
}

/// A daemon whose stdout's reader went away before it printed its start line keeps
/// serving.
#[test]
fn a_daemon_with_a_closed_stdout_serves() {
    let mut member = Command::new(bin("stillepostd"))
        .args([
            "member",
            "--coord-bind",
            "127.0.0.1:0",
            "--peer-bind",
            "127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::from(closed_pipe()))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let running = member.try_wait().unwrap().is_none();
    member.kill().unwrap();
    let out = member.wait_with_output().unwrap();
    assert!(running, "it exited: {}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

/// Daemon logs carry colour codes only on a terminal, and not even there with `NO_COLOR`:
/// journald and log files get plain lines.
#[test]
fn daemon_logs_are_plain_off_a_terminal_and_with_no_color() {
    let member = bin("stillepostd");
    let line = |env: &str| {
        format!(
            "{env} STILLEPOST_LOG=info timeout 1 {} member --coord-bind 127.0.0.1:0 --peer-bind 127.0.0.1:0",
            member.display()
        )
    };
    let Some(coloured) = support::on_terminal(&line("")) else {
        return;
    };
    let text = String::from_utf8_lossy(&coloured.stdout);
    assert!(text.contains("member ready"), "{text}");
    assert!(text.contains('\u{1b}'), "no colour on a terminal: {text}");
    let plain = support::on_terminal(&line("NO_COLOR=1")).unwrap();
    let text = String::from_utf8_lossy(&plain.stdout);
    assert!(
        text.contains("member ready") && !text.contains('\u{1b}'),
        "{text}"
    );
    // Into a pipe (a file, a journal): plain.
    let out = Command::new("sh")
        .args(["-c", &line("")])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = stderr(&out);
    assert!(
        text.contains("member ready") && !text.contains('\u{1b}'),
        "{text}"
    );
}

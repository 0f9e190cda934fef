//! The `stillepostd` binary's start-up errors: what it says, with which flag, and that it
//! refuses to start insecurely.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::process::{Command, Stdio};

fn stillepostd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stillepostd"))
        .args(args)
        .env_remove("STILLEPOST_TOKEN")
        .output()
        .expect("run stillepostd")
}

/// Starts `stillepostd args`, waits for its ready line on stdout (None if it exits
/// first), then stops it and returns what it logged on stderr.
fn start_and_stop(args: &[&str]) -> (Option<String>, String) {
    use std::io::{BufRead, BufReader, Read};
    let mut child = Command::new(env!("CARGO_BIN_EXE_stillepostd"))
        .args(args)
        .env_remove("STILLEPOST_TOKEN")
        .env("STILLEPOST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start stillepostd");
    let mut banner = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    ((!banner.is_empty()).then_some(banner), log)
}

/// A token file with `text` and permissions `mode` in a fresh directory.
fn token_file(name: &str, text: &str, mode: u32) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = std::env::temp_dir().join(format!(
        "stillepost-daemon-token-{name}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("token");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// The one line each role prints when told to listen on a non-loopback address without
/// a token (0.0.0.0 counts: it takes every address of the host).
#[test]
fn a_non_loopback_bind_without_a_token_refuses_to_start_in_one_line() {
    let data_dir = std::env::temp_dir().join(format!("stillepost-insecure-{}", std::process::id()));
    let data_dir = data_dir.to_str().unwrap();
    for (args, flag) in [
        (
            vec![
                "coordinator",
                "--client-bind",
                "0.0.0.0:0",
                "--data-dir",
                data_dir,
            ],
            "--client-bind",
        ),
        (
            vec![
                "member",
                "--coord-bind",
                "0.0.0.0:0",
                "--peer-bind",
                "127.0.0.1:0",
            ],
            "--coord-bind",
        ),
    ] {
        let out = stillepostd(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!(
                "error: {flag} 0.0.0.0:0 is not a loopback address and no token is set: pass --token-file <path> or set STILLEPOST_TOKEN (the same token on the coordinator, its members and the client), or pass --insecure to let anyone who reaches 0.0.0.0:0 use this daemon\n"
            ),
            "{args:?}"
        );
        assert!(out.stdout.is_empty(), "{args:?} said it was ready");
    }
    assert!(!std::path::Path::new(data_dir).exists());
}

/// With --insecure each role starts on 0.0.0.0 and logs one warning naming the address.
#[test]
fn insecure_starts_on_a_non_loopback_address_and_warns_once() {
    let data_dir =
        std::env::temp_dir().join(format!("stillepost-insecure-ok-{}", std::process::id()));
    for (args, flag, ready) in [
        (
            vec![
                "coordinator",
                "--client-bind",
                "0.0.0.0:0",
                "--insecure",
                "--data-dir",
                data_dir.to_str().unwrap(),
            ],
            "--client-bind",
            "stillepostd coordinator: listening for clients on 0.0.0.0:",
        ),
        (
            vec![
                "member",
                "--coord-bind",
                "0.0.0.0:0",
                "--insecure",
                "--peer-bind",
                "127.0.0.1:0",
            ],
            "--coord-bind",
            "stillepostd member: control on 0.0.0.0:",
        ),
    ] {
        let (banner, log) = start_and_stop(&args);
        let banner = banner.unwrap_or_else(|| panic!("{args:?} did not start:\n{log}"));
        assert!(banner.starts_with(ready), "{banner}");
        let warning = format!(
            "{flag} 0.0.0.0:0 is not a loopback address and --insecure runs it without a token: anyone who reaches it can configure and read the ring"
        );
        let warnings: Vec<&str> = log.lines().filter(|l| l.contains(" WARN ")).collect();
        assert_eq!(warnings.len(), 1, "{log}");
        assert!(warnings[0].ends_with(&warning), "{log}");
    }
    let _ = std::fs::remove_dir_all(&data_dir);
}

/// A missing or empty token file stops either role before it listens, naming the file; a
/// file others may read is used, with a warning naming it.
#[test]
fn token_file_errors_name_the_file() {
    let missing = std::env::temp_dir().join("stillepost-no-such-token-file");
    let empty = token_file("empty", "\n", 0o600);
    let loose = token_file("loose", "loose-token-0e2d\n", 0o644);
    let data_dir =
        std::env::temp_dir().join(format!("stillepost-token-errors-{}", std::process::id()));
    let data_dir = data_dir.to_str().unwrap();
    for role in [
        vec![
            "coordinator",
            "--client-bind",
            "127.0.0.1:0",
            "--data-dir",
            data_dir,
        ],
        vec![
            "member",
            "--coord-bind",
            "127.0.0.1:0",
            "--peer-bind",
            "127.0.0.1:0",
        ],
    ] {
        let with = |file: &std::path::Path| {
            let mut args = role.clone();
            args.extend(["--token-file", file.to_str().unwrap()]);
            args.into_iter().map(str::to_string).collect::<Vec<_>>()
        };
        for (file, message) in [
            (
                &missing,
                format!(
                    "error: --token-file {}: cannot read it: No such file or directory (os error 2)\n",
                    missing.display()
                ),
            ),
            (
                &empty,
                format!(
                    "error: --token-file {} is empty: a token must hold at least one character\n",
                    empty.display()
                ),
            ),
        ] {
            let args = with(file);
            let out = stillepostd(&args.iter().map(String::as_str).collect::<Vec<_>>());
            assert_eq!(out.status.code(), Some(1));
            assert_eq!(String::from_utf8_lossy(&out.stderr), message);
        }
        let args = with(&loose);
        let (banner, log) = start_and_stop(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(banner.is_some(), "{log}");
        assert!(
            log.contains(&format!(
                "--token-file {}: group or others may read it (mode 644); chmod 600 it",
                loose.display()
            )),
            "{log}"
        );
        assert!(!log.contains("loose-token-0e2d"), "{log}");
    }
    let _ = std::fs::remove_dir_all(data_dir);
    for file in [empty, loose] {
        let _ = std::fs::remove_dir_all(file.parent().unwrap());
    }
}

#[test]
fn a_taken_control_port_is_named_with_its_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = stillepostd(&[
        "member",
        "--coord-bind",
        &addr,
        "--peer-bind",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("--coord-bind {addr}: cannot listen there")),
        "{err}"
    );
    let data_dir = std::env::temp_dir().join(format!("stillepost-daemon-{}", std::process::id()));
    let out = stillepostd(&[
        "coordinator",
        "--client-bind",
        &addr,
        "--data-dir",
        data_dir.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_dir_all(&data_dir);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("--client-bind {addr}: cannot listen there")),
        "{err}"
    );
}

#[test]
fn an_unresolvable_bind_address_is_named_with_its_flag() {
    let out = stillepostd(&[
        "member",
        "--coord-bind",
        "127.0.0.1:0",
        "--peer-bind",
        "no-such-host.invalid:7000",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--peer-bind 'no-such-host.invalid:7000' is not a host:port that resolves"),
        "{err}"
    );
}

#[test]
fn announcing_needs_a_token_and_an_address_other_hosts_reach() {
    let token = token_file("announce-token", "announce-token\n", 0o600);
    let token = token.to_str().unwrap();
    for (extra, needle) in [
        (
            vec!["--announce"],
            "--announce 239.255.83.80:7090 needs the ring's token (--token-file or STILLEPOST_TOKEN)",
        ),
        (
            vec!["--token-file", token, "--announce", "239.255.83.80:7090"],
            "the control address 127.0.0.1 is not one a coordinator on another host can reach",
        ),
        (
            vec!["--announce", "[ff02::1]:7090"],
            "ff02::1 is an interface- or link-local IPv6 group",
        ),
    ] {
        let mut args = vec![
            "member",
            "--coord-bind",
            "127.0.0.1:0",
            "--peer-bind",
            "127.0.0.1:0",
        ];
        args.extend(extra);
        let out = stillepostd(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(std::path::Path::new(token).parent().unwrap());
}

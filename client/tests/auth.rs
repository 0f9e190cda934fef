//! The control plane's token end to end: real `stillepostd` processes started with
//! `--token-file`, driven by the real `stillepost` with the token from a file or from
//! STILLEPOST_TOKEN; without it the client is refused, and the token shows nowhere.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod support;

use support::{
    Cluster, assert_failure, assert_success, json, scratch_dir, stdout, stillepost_env, token_file,
};

const TOKEN: &str = "client-test-token-7d3e1f0a9b";

/// Runs `stillepost --coordinator <cluster's> args` with `env`.
fn client(cluster: &Cluster, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut all = vec!["--coordinator", cluster.coordinator_addr.as_str()];
    all.extend_from_slice(args);
    stillepost_env(&all, env)
}

#[track_caller]
fn assert_no_token(what: &str, text: &str) {
    assert!(!text.contains(TOKEN), "the token shows in {what}:\n{text}");
}

#[test]
fn tours_run_with_the_token_from_a_file_or_the_environment_and_it_shows_nowhere() {
    let file = token_file(&format!("{TOKEN}\n"));
    let file_arg = file.to_str().unwrap();
    let cluster = Cluster::start_with_token(2, &file);
    let cluster_arg = cluster.cluster_arg();
    let from_file = ["--token-file", file_arg];
    let from_env = [("STILLEPOST_TOKEN", TOKEN)];

    let mut outputs = Vec::new();
    let mut run = |args: &[&str], env: &[(&str, &str)]| {
        let out = client(&cluster, args, env);
        assert_success(&out);
        outputs.push((format!("{args:?}"), out.clone()));
        out
    };
    run(
        &[
            &from_file[..],
            &["configure", "--cluster", &cluster_arg, "--msgcount", "50"],
        ]
        .concat(),
        &[],
    );
    for (args, env) in [
        (&["stillepost", "--json"][..], &from_env[..]),
        (
            &[&from_file[..], &["stillepost", "--json"]].concat()[..],
            &[][..],
        ),
    ] {
        let tour = json(&run(args, env));
        assert_eq!(tour["outcome"], "complete", "{tour:#}");
        assert_eq!(tour["messages_sent"], 50);
        assert_eq!(tour["messages_received"], 50);
    }
    let status = stdout(&run(&["status"], &from_env));
    for control in &cluster.controls {
        assert!(status.contains(control.as_str()), "{status}");
    }
    let status = json(&run(&["status", "--json"], &from_env));
    assert_eq!(status["members"].as_array().unwrap().len(), 2, "{status:#}");
    run(
        &[&from_file[..], &["report", "latest", "--format", "json"]].concat(),
        &[],
    );

    for (what, out) in &outputs {
        assert_no_token(&format!("the stdout of {what}"), &stdout(out));
        assert_no_token(&format!("the stderr of {what}"), &support::stderr(out));
    }
    let daemons = std::iter::once(&cluster.coordinator).chain(&cluster.members);
    for daemon in daemons {
        let log = daemon.log();
        assert!(log.contains(" ready"), "the log is captured: {log}");
        assert_no_token("a daemon's log (debug level)", &log);
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", daemon.pid())).unwrap();
        assert_no_token(
            "a daemon's command line",
            &String::from_utf8_lossy(&cmdline),
        );
        assert!(String::from_utf8_lossy(&cmdline).contains(file_arg));
    }
    let _ = std::fs::remove_dir_all(file.parent().unwrap());
}

#[test]
fn a_client_without_the_token_or_with_another_is_refused_with_exit_status_5() {
    let file = token_file(&format!("{TOKEN}\n"));
    let cluster = Cluster::start_with_token(1, &file);
    let cluster_arg = cluster.cluster_arg();
    let before = client(
        &cluster,
        &["status", "--json"],
        &[("STILLEPOST_TOKEN", TOKEN)],
    );
    assert_success(&before);
    assert_eq!(json(&before)["configured"], false);

    let missing =
        "error: this coordinator needs a token: pass --token-file or set STILLEPOST_TOKEN";
    let wrong = "error: this coordinator refused the token: pass the coordinator's own token with --token-file or STILLEPOST_TOKEN";
    for (env, message) in [
        (&[][..], missing),
        (&[("STILLEPOST_TOKEN", "not-the-token")][..], wrong),
    ] {
        for args in [
            &["status"][..],
            &["configure", "--cluster", &cluster_arg][..],
            &["stillepost"][..],
            &["report", "latest"][..],
        ] {
            let out = client(&cluster, args, env);
            assert_failure(&out, 5, &[message]);
            assert!(out.stdout.is_empty(), "{args:?}: {}", stdout(&out));
        }
    }
    let after = client(
        &cluster,
        &["status", "--json"],
        &[("STILLEPOST_TOKEN", TOKEN)],
    );
    assert_eq!(json(&after), json(&before));
    let _ = std::fs::remove_dir_all(file.parent().unwrap());
}

#[test]
fn token_errors_of_the_client_name_where_it_looked() {
    let missing = scratch_dir("no-token").join("token");
    let empty = token_file("\n");
    let cases = [
        (
            vec!["--token-file", missing.to_str().unwrap(), "status"],
            vec![],
            format!(
                "error: --token-file {}: cannot read it: No such file or directory (os error 2)\n",
                missing.display()
            ),
        ),
        (
            vec!["--token-file", empty.to_str().unwrap(), "status"],
            vec![],
            format!(
                "error: --token-file {} is empty: a token must hold at least one character\n",
                empty.display()
            ),
        ),
        (
            vec!["status"],
            vec![("STILLEPOST_TOKEN", "")],
            "error: STILLEPOST_TOKEN is empty: a token must hold at least one character\n"
                .to_string(),
        ),
    ];
    for (args, env, message) in cases {
        let out = stillepost_env(&args, &env);
        assert_failure(&out, 2, &[]);
        assert_eq!(support::stderr(&out), message, "{args:?}");
    }
    for file in [missing, empty] {
        let _ = std::fs::remove_dir_all(file.parent().unwrap());
    }
}

/// Members started with the same `--psk-file` run tours (clock probes and echoes
/// included); a member whose pre-shared key differs cannot answer its previous member's
/// challenge, and the configure fails naming it.
#[test]
fn members_with_the_same_pre_shared_key_run_tours_and_one_with_another_is_refused() {
    let dir = scratch_dir("psk");
    let (ours, theirs) = (dir.join("ours"), dir.join("theirs"));
    std::fs::write(&ours, "9c1f0e7d2b4a6c8e0f1a3b5c7d9e1f20\n").unwrap();
    std::fs::write(&theirs, "0d2e4f6a8b0c1d3e5f7a9b1c3d5e7f90\n").unwrap();
    for file in [&ours, &theirs] {
        std::fs::set_permissions(file, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
    }
    let psk = |file: &std::path::Path| vec!["--psk-file".to_string(), file.display().to_string()];

    let cluster = Cluster::start_each("auto", 3, |i| {
        // Member 2 runs on another (simulated) host, so its clock is probed.
        let mut flags = psk(&ours);
        if i == 2 {
            flags.extend(["--fault-clock-shift-ns".to_string(), "50000".to_string()]);
        }
        flags
    });
    cluster.configure(&["--msgcount", "30"]);
    let tour = cluster.tour();
    assert_eq!(tour["outcome"], "complete", "{tour:#}");
    assert_eq!(tour["messages_received"], 30, "{tour:#}");
    let out = cluster.client(&["echo-members", "--json"]);
    assert_success(&out);
    let echoes = json(&out);
    for member in echoes["members"].as_array().unwrap() {
        assert_eq!(member["received"], member["sent"], "{echoes:#}");
        assert_eq!(member["sent"], 5, "{echoes:#}");
    }

    let cluster = Cluster::start_each("auto", 3, |i| psk(if i == 1 { &theirs } else { &ours }));
    let out = cluster.client(&["configure", "--cluster", &cluster.cluster_arg()]);
    assert_failure(
        &out,
        1,
        &[
            "did not answer the ring's challenge",
            &cluster.peers[1],
            "--psk-file differs",
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

//! TLS on the control plane, end to end: certificates made by the test (rcgen), real
//! `stillepostd` processes started with `--tls-cert/--tls-key/--tls-ca` or a `--config`
//! file, and the real `stillepost` with `--tls-ca`. A tour runs over TLS with members that
//! require the coordinator's client certificate; a client that trusts another CA, or that
//! does not speak TLS, is refused; so is a coordinator whose client certificate members do
//! not trust.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod support;

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};
use support::{Cluster, assert_failure, assert_success, json, scratch_dir, stderr, stillepost};

/// A CA and the PEM files of one certificate it signed for 127.0.0.1, in `dir`.
struct Pki {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// Makes a CA called `name` and a certificate it signs for 127.0.0.1 and localhost, and
/// writes `<name>-ca.pem`, `<name>-cert.pem` and `<name>-key.pem` (mode 600) into `dir`.
fn pki(dir: &Path, name: &str) -> Pki {
    use std::os::unix::fs::PermissionsExt as _;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("stillepost test CA {name}"));
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    params
        .distinguished_name
        .push(DnType::CommonName, format!("stillepost test daemon {name}"));
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();

    let write = |file: &str, text: String| {
        let path = dir.join(format!("{name}-{file}.pem"));
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    };
    Pki {
        ca: write("ca", ca.pem()),
        cert: write("cert", cert.pem()),
        key: write("key", key.serialize_pem()),
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs `stillepost --coordinator <cluster's> args`.
fn client(cluster: &Cluster, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--coordinator", cluster.coordinator_addr.as_str()];
    all.extend_from_slice(args);
    stillepost(&all)
}

#[test]
fn a_tour_runs_over_tls_with_client_certificates_set_in_config_files() {
    let dir = scratch_dir("tls");
    let ring = pki(&dir, "ring");
    let other = pki(&dir, "other");
    let token = dir.join("token");
    std::fs::write(&token, "tls-test-token\n").unwrap();
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    // One file for every daemon, with paths relative to it; the client's names only the
    // token and the CA.
    let daemon_config = dir.join("stillepostd.toml");
    std::fs::write(
        &daemon_config,
        "token_file = \"token\"\n[tls]\ncert = \"ring-cert.pem\"\nkey = \"ring-key.pem\"\nca = \"ring-ca.pem\"\n",
    )
    .unwrap();
    let client_config = dir.join("client.toml");
    std::fs::write(
        &client_config,
        format!(
            "token_file = \"{}\"\n[tls]\nca = \"{}\"\n",
            path(&token),
            path(&ring.ca)
        ),
    )
    .unwrap();
    let common = ["--config", path(&daemon_config)];
    let cluster = Cluster::start_split(2, &common, &common);
    assert!(
        cluster.coordinator.banner.contains("(TLS, token)"),
        "{}",
        cluster.coordinator.banner
    );
    for member in &cluster.members {
        assert!(
            member
                .banner
                .contains("(TLS with client certificates, token)"),
            "{}",
            member.banner
        );
    }

    let with_config = ["--config", path(&client_config)];
    let cluster_arg = cluster.cluster_arg();
    let out = client(
        &cluster,
        &[
            &with_config[..],
            &["configure", "--cluster", &cluster_arg, "--msgcount", "40"],
        ]
        .concat(),
    );
    assert_success(&out);
    let out = client(&cluster, &[&with_config[..], &["run", "--json"]].concat());
    assert_success(&out);
    let tour = json(&out);
    assert_eq!(tour["outcome"], "complete", "{tour:#}");
    assert_eq!(tour["messages_received"], 40, "{tour:#}");

    // The same with flags instead of the file: the flag's CA wins over the file's.
    let token_flag = ["--token-file", path(&token)];
    let out = client(
        &cluster,
        &[
            &token_flag[..],
            &["--tls-ca", path(&ring.ca), "status", "--json"],
        ]
        .concat(),
    );
    assert_success(&out);
    assert_eq!(json(&out)["members"].as_array().unwrap().len(), 2);

    // A client that trusts another CA is refused before any call, and says why.
    let out = client(
        &cluster,
        &[&token_flag[..], &["--tls-ca", path(&other.ca), "status"]].concat(),
    );
    assert_failure(
        &out,
        4,
        &[
            "UnknownIssuer",
            "its certificate is not signed by the CA in --tls-ca",
        ],
    );
    let out = client(
        &cluster,
        &[&with_config[..], &["--tls-ca", path(&other.ca), "status"]].concat(),
    );
    assert_failure(&out, 4, &["UnknownIssuer"]);

    // A client without TLS gets no answer from a TLS port, and is told to use --tls-ca.
    let out = client(&cluster, &[&token_flag[..], &["status"]].concat());
    assert_failure(&out, 4, &["if it serves TLS", "pass --tls-ca"]);

    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn members_refuse_a_coordinator_whose_client_certificate_they_do_not_trust() {
    let dir = scratch_dir("mtls");
    let ring = pki(&dir, "ring");
    let other = pki(&dir, "other");
    // The coordinator trusts the members' CA but presents a certificate of another CA.
    let coordinator = [
        "--tls-cert",
        path(&other.cert),
        "--tls-key",
        path(&other.key),
        "--tls-ca",
        path(&ring.ca),
    ];
    let members = [
        "--tls-cert",
        path(&ring.cert),
        "--tls-key",
        path(&ring.key),
        "--tls-ca",
        path(&ring.ca),
    ];
    let cluster = Cluster::start_split(2, &coordinator, &members);
    let cluster_arg = cluster.cluster_arg();
    let out = client(
        &cluster,
        &[
            "--tls-ca",
            path(&other.ca),
            "configure",
            "--cluster",
            &cluster_arg,
        ],
    );
    assert_failure(
        &out,
        4,
        &[
            &format!("member 0 ({})", cluster.controls[0]),
            "if it requires client certificates",
        ],
    );
    // Nothing was configured.
    let out = client(&cluster, &["--tls-ca", path(&other.ca), "status", "--json"]);
    assert_success(&out);
    assert_eq!(json(&out)["configured"], false, "{}", support::stdout(&out));

    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tls_settings_that_cannot_work_stop_the_daemon_at_start_naming_them() {
    let dir = scratch_dir("tls-bad");
    let ring = pki(&dir, "ring");
    let other = pki(&dir, "other");
    let daemon = |args: &[&str]| {
        std::process::Command::new(support::bin("stillepostd"))
            .args(args)
            .output()
            .unwrap()
    };
    let member = |extra: &[&str]| {
        let mut args = vec![
            "member",
            "--coord-bind",
            "127.0.0.1:0",
            "--peer-bind",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra);
        daemon(&args)
    };
    let cases: [(Vec<&str>, &str); 4] = [
        (
            vec!["--tls-cert", path(&ring.cert)],
            "--tls-cert is set but --tls-key is not",
        ),
        (
            vec!["--tls-ca", path(&ring.ca)],
            "a member's --tls-ca (tls.ca) makes it require client certificates",
        ),
        (
            vec!["--tls-cert", path(&ring.key), "--tls-key", path(&ring.key)],
            "holds no certificate",
        ),
        (
            vec![
                "--tls-cert",
                path(&ring.cert),
                "--tls-key",
                path(&other.key),
            ],
            "--tls-cert and --tls-key (tls.cert, tls.key): ",
        ),
    ];
    for (extra, needle) in cases {
        let out = member(&extra);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{extra:?}: {}", stderr(&out));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

//! Shell completions and man pages, generated from the clap definitions of both programs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

mod support;

use std::process::Command;

use support::{assert_success, bin, scratch_dir, stdout};

#[test]
fn completions_and_man_pages_name_the_flags_of_both_programs() {
    for (program, shell, needle) in [
        ("stillepost", "bash", "--msgcount"),
        ("stillepost", "zsh", "--coordinator"),
        ("stillepost", "fish", "echo-members"),
        ("stillepostd", "bash", "--monitor-interval"),
        ("stillepostd", "fish", "-l peer-bind"),
    ] {
        let out = Command::new(bin(program))
            .args(["completions", shell])
            .output()
            .unwrap();
        assert_success(&out);
        assert!(stdout(&out).contains(needle), "{program} {shell}: {needle}");
    }
    let out = Command::new(bin("stillepostd"))
        .arg("man")
        .output()
        .unwrap();
    assert_success(&out);
    let page = stdout(&out);
    assert!(
        page.starts_with(".ie") && page.contains(".TH stillepostd 1"),
        "{page}"
    );

    let dir = scratch_dir("man");
    let out = Command::new(bin("stillepost"))
        .args(["man", "--out-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_success(&out);
    let configure = std::fs::read_to_string(dir.join("stillepost-configure.1")).unwrap();
    assert!(configure.contains(".TH stillepost-configure 1") && configure.contains("cluster"));
    assert!(dir.join("stillepost.1").exists() && !dir.join("stillepost-help.1").exists());
    assert!(stdout(&out).contains(&format!("wrote {}", dir.join("stillepost.1").display())));
    std::fs::remove_dir_all(&dir).unwrap();

    let out = Command::new(bin("stillepost"))
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

/// The man pages and completions the Debian package ships (deploy/debian) are what the
/// programs generate now.
#[test]
fn the_packaged_man_pages_and_completions_are_current() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let packaged = repo.join("deploy/debian");
    let dir = scratch_dir("packaged-man");
    let mut generated: Vec<(String, Vec<u8>)> = Vec::new();
    for program in ["stillepost", "stillepostd"] {
        let out = Command::new(bin(program))
            .args(["man", "--out-dir"])
            .arg(&dir)
            .output()
            .unwrap();
        assert_success(&out);
        for shell in ["bash", "zsh", "fish"] {
            let out = Command::new(bin(program))
                .args(["completions", shell])
                .output()
                .unwrap();
            assert_success(&out);
            generated.push((format!("completions/{program}.{shell}"), out.stdout));
        }
    }
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        generated.push((format!("man/{name}"), std::fs::read(entry.path()).unwrap()));
    }
    let mut stale = Vec::new();
    for (name, bytes) in &generated {
        if std::fs::read(packaged.join(name)).ok().as_ref() != Some(bytes) {
            stale.push(name.clone());
        }
    }
    let mut committed = 0;
    for sub in ["man", "completions"] {
        for entry in std::fs::read_dir(packaged.join(sub)).unwrap() {
            let name = format!(
                "{sub}/{}",
                entry.unwrap().file_name().into_string().unwrap()
            );
            committed += 1;
            if !generated.iter().any(|(g, _)| *g == name) {
                stale.push(format!("{name} (no program generates it)"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "deploy/debian is not what the programs generate ({stale:?}): run deploy/debian/generate"
    );
    assert_eq!(committed, generated.len());
    assert!(generated.len() >= 20, "{}", generated.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

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

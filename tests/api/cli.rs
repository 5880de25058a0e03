use std::io::Write;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_engagement-tracker");

fn run(
    dir: &std::path::Path,
    args: &[&str],
    stdin: &str,
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("JWT_SECRET")
        .env("DATA_DIR", dir.join("data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn binary");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

#[test]
fn user_create_bootstraps_the_first_admin_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "user",
            "create",
            "--email",
            "Boss@Prime.example",
            "--org",
            "Prime KK",
            "--role",
            "admin",
        ],
        "a long enough password\n",
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("created boss@prime.example (admin)"),
        "{stdout}"
    );
    assert!(dir.path().join("data/engagement-tracker.sqlite3").exists());

    // A too-short password and an unknown organisation are refused with a reason.
    let out = run(
        dir.path(),
        &[
            "user",
            "create",
            "--email",
            "c@x.example",
            "--org",
            "Prime KK",
            "--role",
            "coordinator",
        ],
        "short\n",
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("password"));
    let out = run(
        dir.path(),
        &[
            "user",
            "create",
            "--email",
            "c@x.example",
            "--org",
            "Nobody",
            "--role",
            "coordinator",
        ],
        "a long enough password\n",
        &[],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Nobody"));
}

#[test]
fn invalid_settings_stop_the_start_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["migrate"], "", &[("JWT_SECRET", "too-short")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("JWT_SECRET") && err.contains("32 bytes"),
        "{err}"
    );
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["migrate", "--help"],
        &["openapi", "--help"],
        &["user", "create", "--help"],
    ] {
        let out = run(dir.path(), args, "", &[]);
        assert!(out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
    }
}

#[test]
fn openapi_command_prints_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["openapi"], "", &[]);
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
}

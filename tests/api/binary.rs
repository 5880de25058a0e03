//! Black-box tests of the compiled binary, doing what the README's quick start says: `serve` on
//! an empty data directory, `user create` with the password piped in, a token, the example list
//! imported, mail queued — and then looking at what the process did (files, SMTP, exit status).
//! On PostgreSQL when TEST_DATABASE_URL is set (each test makes its own database).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{json, Value};

use crate::helpers::{fresh_pg_database, SmtpSink, PASSWORD};

const BIN: &str = env!("CARGO_BIN_EXE_engagement-tracker");
/// Loose upper bounds for things that take a second or less: a slow CI machine must not fail.
const PATIENCE: Duration = Duration::from_secs(30);

/// Settings a developer's shell might carry; every test starts from none of them.
const SETTINGS: &[&str] = &[
    "DATABASE_URL",
    "BIND",
    "DATA_DIR",
    "PUBLIC_BASE_URL",
    "JWT_SECRET",
    "JWT_SECRET_FILE",
    "SMTP_URL",
    "MAIL_FROM",
    "MAIL_WORKER",
    "MAIL_POLL_MS",
    "DB_POOL_SIZE",
    "DB_TIMEOUT_MS",
    "LOG_FORMAT",
    "RUST_LOG",
];

/// An empty working directory (with `data/` not yet created) and, on PostgreSQL, an empty
/// database of its own.
pub(crate) struct Install {
    dir: tempfile::TempDir,
    database_url: Option<String>,
    pg: Option<(String, String)>,
}

impl Install {
    pub(crate) fn new() -> Self {
        let pg = std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|v| !v.is_empty())
            .map(|base| (base.clone(), fresh_pg_database(&base)));
        Install {
            dir: tempfile::tempdir().expect("temp dir"),
            database_url: pg.as_ref().map(|(_, (url, _))| url.clone()),
            pg: pg.map(|(base, (_, name))| (base, name)),
        }
    }

    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The binary with this installation's settings (and nothing from the test's environment).
    pub(crate) fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args).current_dir(self.dir.path());
        for key in SETTINGS {
            cmd.env_remove(key);
        }
        cmd.env("DATA_DIR", self.data_dir()).env("RUST_LOG", "info");
        if let Some(url) = &self.database_url {
            cmd.env("DATABASE_URL", url);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Starts a long-running command with its standard error kept in a file.
    pub(crate) fn start(&self, args: &[&str], env: &[(&str, &str)]) -> Process {
        let log =
            self.dir
                .path()
                .join(format!("{}-{}.log", args[0], uuid::Uuid::now_v7().simple()));
        let file = std::fs::File::create(&log).expect("log file");
        let child = self
            .command(args, env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start the binary");
        Process { child, log }
    }

    /// `serve` on a free port; returns once it answers /healthz.
    pub(crate) async fn serve(&self, env: &[(&str, &str)]) -> Server {
        let port = SmtpSink::free_port();
        let bind = format!("127.0.0.1:{port}");
        let mut all = vec![("BIND", bind.as_str())];
        all.extend_from_slice(env);
        let mut process = self.start(&["serve"], &all);
        let base = format!("http://{bind}");
        let client = Client::new();
        let healthz = format!("{base}/healthz");
        eventually("serve answers /healthz", || {
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!(
                    "serve exited with {status}; the log ends with:\n{}",
                    process.stderr_tail(40)
                );
            }
            let client = client.clone();
            let url = healthz.clone();
            async move {
                client
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
                    .then_some(())
            }
        })
        .await;
        Server {
            process,
            base,
            client,
        }
    }

    /// `user create` with the password on standard input, as a script would.
    pub(crate) fn create_admin(&self, email: &str) -> std::process::Output {
        let mut child = self
            .command(
                &[
                    "user",
                    "create",
                    "--email",
                    email,
                    "--org",
                    "Prime Contractor Ltd.",
                    "--role",
                    "admin",
                ],
                &[],
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start user create");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{PASSWORD}\n").as_bytes())
            .expect("write the password");
        child.wait_with_output().expect("user create")
    }
}

impl Drop for Install {
    fn drop(&mut self) {
        if let Some((base, name)) = self.pg.take() {
            use diesel::connection::SimpleConnection;
            use diesel::Connection;
            if let Ok(mut c) = diesel::PgConnection::establish(&base) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
    }
}

pub(crate) struct Process {
    pub(crate) child: Child,
    log: PathBuf,
}

impl Process {
    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and asserts that the process stops with 0. A failure shows the exit status
    /// and the end of the log (CI cuts a long message off before the end that says why).
    pub(crate) async fn stop_cleanly(&mut self) {
        let status = self.terminate().await;
        assert_eq!(
            status.code(),
            Some(0),
            "{status}; the log ends with:\n{}",
            self.stderr_tail(40)
        );
    }

    /// The last `n` lines of the log.
    pub(crate) fn stderr_tail(&self, n: usize) -> String {
        let log = self.stderr();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Sends SIGTERM and waits for the process to end.
    pub(crate) async fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid}");
        self.exited().await
    }

    async fn exited(&mut self) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            if started.elapsed() > PATIENCE {
                let _ = self.child.kill();
                panic!(
                    "the process did not exit; the log ends with:\n{}",
                    self.stderr_tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What every clean run's log must not contain.
    pub(crate) fn assert_clean_log(&self) {
        let log = self.stderr();
        for bad in [
            "database is locked",
            "migration failed",
            "panicked",
            "ERROR",
        ] {
            assert!(!log.contains(bad), "`{bad}` in the log:\n{log}");
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // A failed test must not leave a server behind.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub(crate) struct Server {
    pub(crate) process: Process,
    pub(crate) base: String,
    pub(crate) client: Client,
}

impl Server {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) async fn token(&self, email: &str) -> String {
        let res = self
            .client
            .post(self.url("/api/v1/auth/token"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200, "log in as {email}");
        let body: Value = res.json().await.expect("json");
        body["access_token"].as_str().expect("token").to_owned()
    }

    /// The quick start up to a queued `first_contact` mail: round, the example list, the mail.
    /// Returns the engagement and how many messages were queued.
    pub(crate) async fn queue_first_contact(&self, token: &str) -> (String, usize) {
        let res = self
            .client
            .post(self.url("/api/v1/rounds"))
            .bearer_auth(token)
            .json(&json!({"name": "FY2025"}))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 201, "create the round");
        let list = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/selection-list.csv"),
        )
        .expect("the example list");
        let form = reqwest::multipart::Form::new()
            .text("round", "FY2025")
            .part(
                "file",
                reqwest::multipart::Part::bytes(list).file_name("selection-list.csv"),
            );
        let res = self
            .client
            .post(self.url("/api/v1/imports?partial=true"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200, "import the example list");
        let report: Value = res.json().await.expect("json");
        let engagement = report["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .find_map(|r| r["engagement_id"].as_str())
            .expect("an imported engagement")
            .to_owned();
        let res = self
            .client
            .post(self.url(&format!("/api/v1/engagements/{engagement}/emails")))
            .bearer_auth(token)
            .json(&json!({"kind": "first_contact"}))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 202, "queue first_contact");
        let body: Value = res.json().await.expect("json");
        let queued = body["queued"].as_array().expect("queued").len();
        assert!(queued >= 1, "{body}");
        (engagement, queued)
    }

    pub(crate) async fn emails(&self, token: &str) -> Vec<Value> {
        let list: Value = self
            .client
            .get(self.url("/api/v1/emails"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        list["items"].as_array().expect("items").clone()
    }
}

/// Polls `check` until it gives a value, failing after a generous deadline.
pub(crate) async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(started.elapsed() < PATIENCE, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn eml_files(data_dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(data_dir.join("outbox"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default()
}

/// Every directory under `root` is 0700 and every file 0600 (`root` itself too, if the app
/// created it).
#[cfg(unix)]
pub fn assert_owner_only(root: &Path, check_root: bool) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(root).unwrap().permissions().mode() & 0o777;
    if check_root {
        assert_eq!(mode, 0o700, "{}", root.display());
    }
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            assert_owner_only(&path, true);
        } else {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
    }
}

#[tokio::test]
async fn serve_delivers_mail_to_files_and_stops_on_sigterm() {
    let install = Install::new();
    let mut server = install.serve(&[]).await;
    let out = install.create_admin("you@example.com");
    assert!(
        out.status.success(),
        "user create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = server.token("you@example.com").await;
    let (engagement, queued) = server.queue_first_contact(&token).await;

    let data = install.data_dir();
    let files = eventually("the mail appears under DATA_DIR/outbox/", || {
        let files = eml_files(&data);
        async move { (files.len() >= queued).then_some(files) }
    })
    .await;
    let raw = std::fs::read_to_string(&files[0]).unwrap();
    assert!(raw.contains("Message-ID:"), "{raw}");
    eventually("the outbox records them sent", || async {
        let mails = server.emails(&token).await;
        mails.iter().all(|m| m["status"] == "sent").then_some(())
    })
    .await;

    // A stored document, to check its mode below.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(crate::helpers::PDF.to_vec()).file_name("diagram.pdf"),
    );
    let res = server
        .client
        .post(server.url(&format!(
            "/api/v1/engagements/{engagement}/documents?purpose=diagram&override_reason=quick%20start%20test"
        )))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "upload: {}", res.status());

    server.process.stop_cleanly().await;
    server.process.assert_clean_log();
    // The database (with its -wal/-shm), the mail, the document and the key: owner-only.
    #[cfg(unix)]
    assert_owner_only(&data, true);
}

#[tokio::test]
async fn serve_delivers_mail_over_smtp() {
    let port = SmtpSink::free_port();
    let sink = SmtpSink::default();
    sink.start(port);
    let smtp = format!("smtp://127.0.0.1:{port}");
    let install = Install::new();
    let mut server = install.serve(&[("SMTP_URL", smtp.as_str())]).await;
    assert!(install.create_admin("you@example.com").status.success());
    let token = server.token("you@example.com").await;
    let (_, queued) = server.queue_first_contact(&token).await;
    let got = sink.wait_for(queued).await;
    assert!(String::from_utf8_lossy(&got[0]).contains("Message-ID:"));
    assert!(eml_files(&install.data_dir()).is_empty());
    server.process.stop_cleanly().await;
    server.process.assert_clean_log();
}

#[tokio::test]
async fn with_mail_worker_off_nothing_is_sent_until_the_worker_runs() {
    let install = Install::new();
    let mut server = install
        .serve(&[("MAIL_WORKER", "off"), ("MAIL_POLL_MS", "50")])
        .await;
    assert!(install.create_admin("you@example.com").status.success());
    let token = server.token("you@example.com").await;
    let (_, queued) = server.queue_first_contact(&token).await;
    // Many poll periods of a worker, had one been running.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(eml_files(&install.data_dir()).is_empty());
    let pending = server.emails(&token).await;
    assert!(
        pending
            .iter()
            .all(|m| m["status"] == "pending" && m["attempts"] == 0),
        "{pending:?}"
    );
    assert!(server.process.stderr().contains("mail worker off"));

    let mut worker = install.start(&["worker"], &[("MAIL_POLL_MS", "50")]);
    let data = install.data_dir();
    eventually("the worker writes the mail", || {
        let n = eml_files(&data).len();
        async move { (n >= queued).then_some(()) }
    })
    .await;
    worker.stop_cleanly().await;
    worker.assert_clean_log();
    assert!(worker.stderr().contains("mail worker stopped"));
    // The worker stopped only after recording what it sent.
    let sent = server.emails(&token).await;
    assert!(sent.iter().all(|m| m["status"] == "sent"), "{sent:?}");
    server.process.stop_cleanly().await;
    server.process.assert_clean_log();
}

/// Two processes starting together on an empty database (here `serve` and `user create`, as
/// the quick start has them) used to fail with "database is locked" or with both applying the
/// first migration.
#[tokio::test]
async fn first_starts_on_an_empty_data_directory_are_clean() {
    for round in 0..4 {
        let install = Install::new();
        let port = SmtpSink::free_port();
        let bind = format!("127.0.0.1:{port}");
        let mut serve = install.start(&["serve"], &[("BIND", bind.as_str())]);
        let created = install.create_admin("you@example.com");
        let created_log = String::from_utf8_lossy(&created.stderr).into_owned();
        assert!(created.status.success(), "round {round}: {created_log}");
        assert!(
            !created_log.contains("locked") && !created_log.contains("migration failed"),
            "round {round}: {created_log}"
        );
        let client = Client::new();
        let url = format!("http://{bind}/readyz");
        eventually("serve is ready", || {
            if let Ok(Some(status)) = serve.child.try_wait() {
                panic!(
                    "round {round}: serve exited with {status}: {}",
                    serve.stderr()
                );
            }
            let (client, url) = (client.clone(), url.clone());
            async move {
                client
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
                    .then_some(())
            }
        })
        .await;
        serve.stop_cleanly().await;
        serve.assert_clean_log();
    }
}

#[tokio::test]
async fn serve_with_a_setting_out_of_range_stops_naming_it() {
    let install = Install::new();
    for (key, value) in [
        ("LINK_TTL_DAYS", "0"),
        ("MAIL_MAX_ATTEMPTS", "0"),
        ("REMINDER_LEAD_HOURS", "-3"),
        ("MAIL_WORKER", "maybe"),
    ] {
        let out = install
            .command(&["serve"], &[(key, value), ("BIND", "127.0.0.1:0")])
            .stdin(Stdio::null())
            .output()
            .expect("run serve");
        assert!(!out.status.success(), "{key}={value} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{key}={value}: {err}");
    }
}

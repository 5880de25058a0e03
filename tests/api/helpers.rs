use std::net::TcpListener;
use std::sync::Arc;

use diesel::connection::SimpleConnection;
use diesel::Connection;
use engagement_tracker::api::users::{NewUser, UserDraft};
use engagement_tracker::app::{self, Running};
use engagement_tracker::config::Config;
use engagement_tracker::db::Db;
use engagement_tracker::domain::access::Role;
use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::{json, Value};

pub const PASSWORD: &str = "a long enough password";

/// Where `TestApp::pin_clock` puts the app's clock.
pub const TEST_NOW: &str = "2026-11-20T00:00:00Z";

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub db: Db,
    pub database_url: String,
    /// The settings the app runs with.
    pub config: Arc<Config>,
    /// Started by `app::start`, exactly as `serve` starts it (with the mail worker unless
    /// MAIL_WORKER=off).
    running: Option<Running>,
    /// Kept so the SQLite file and generated files live as long as the app.
    _dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

/// A fresh PostgreSQL database on the server TEST_DATABASE_URL points at; its URL and name.
pub fn fresh_pg_database(base: &str) -> (String, String) {
    let name = format!("et_test_{}", uuid::Uuid::now_v7().simple());
    let mut admin = diesel::PgConnection::establish(base).expect("connect to TEST_DATABASE_URL");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create test database");
    let (prefix, _) = base.rsplit_once('/').expect("TEST_DATABASE_URL has a path");
    (format!("{prefix}/{name}"), name)
}

pub async fn spawn() -> TestApp {
    spawn_with(&[]).await
}

/// Starts the app with extra settings (e.g. a small upload limit).
pub async fn spawn_with(extra: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir_str = dir.path().to_str().expect("utf-8 path").to_owned();
    let pg = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .map(|base| (base.clone(), fresh_pg_database(&base)));
    let database_url = match &pg {
        Some((_, (url, _))) => url.clone(),
        None => format!("sqlite://{dir_str}/test.sqlite3"),
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    // Links in mail point at this very app.
    let base = format!("http://127.0.0.1:{port}");
    let mut settings = vec![
        ("PUBLIC_BASE_URL", base.as_str()),
        ("DATABASE_URL", database_url.as_str()),
        ("DATA_DIR", dir_str.as_str()),
        ("JWT_SECRET", "test-secret-test-secret-test-secret!"),
        ("DB_POOL_SIZE", "4"),
    ];
    settings.extend_from_slice(extra);
    let config = Config::load(&Settings(settings)).expect("config");
    let running = app::start(config, listener, 1)
        .await
        .expect("start the app");
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        client: Client::new(),
        db: running.db.clone(),
        config: running.config.clone(),
        running: Some(running),
        database_url,
        _dir: dir,
        pg: pg.map(|(base, (_, name))| (base, name)),
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some((base, name)) = self.pg.take() {
            // Best effort: a leftover test database harms nothing.
            std::thread::spawn(move || {
                if let Ok(mut c) = diesel::PgConnection::establish(&base) {
                    let _ =
                        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                }
            })
            .join()
            .ok();
        }
    }
}

impl TestApp {
    /// Stops the app gracefully (as on SIGTERM) and starts it again on the same port, database
    /// and DATA_DIR, with a new connection pool.
    pub async fn restart(&mut self) {
        let config = (*self.config).clone();
        self.restart_with(config).await;
    }

    /// As `restart`, with other settings (e.g. other document keys).
    pub async fn restart_with(&mut self, config: Config) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("stop the app");
        }
        let addr = self.base.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind(addr).expect("bind the same port again");
        let running = app::start(config, listener, 1)
            .await
            .expect("restart the app");
        self.db = running.db.clone();
        self.config = running.config.clone();
        self.running = Some(running);
    }

    /// A mail worker of this app's settings, for tests that run it by hand (with MAIL_WORKER=off).
    pub fn mail_worker(&self) -> engagement_tracker::mail::worker::Worker {
        app::mail_worker(&self.config, self.db.clone()).expect("mail worker")
    }

    /// The app's clock (shared with its mail worker): tests move it instead of writing times
    /// into the database.
    pub fn clock(&self) -> &engagement_tracker::clock::Clock {
        &self.config.clock
    }

    /// `days` after the app's today (UTC) at `hh_mm`, as RFC 3339: dates that stay ahead of
    /// the app whatever day the tests run.
    pub fn days_ahead(&self, days: i64, hh_mm: &str) -> String {
        let day = self.clock().now_utc().date_naive() + chrono::Duration::days(days);
        format!("{day}T{hh_mm}:00Z")
    }

    /// Sets the app's clock to [`TEST_NOW`], so dates a test writes (hearing slots) stay ahead
    /// of the app on whatever day the tests run.
    pub fn pin_clock(&self) {
        let at = chrono::DateTime::parse_from_rfc3339(TEST_NOW)
            .expect("TEST_NOW")
            .with_timezone(&chrono::Utc);
        self.clock().set(at);
    }

    /// Delivers every due mail now, without waiting for a worker's poll; returns how many.
    pub async fn deliver_mail(&self) -> usize {
        let worker = self.mail_worker();
        let mut total = 0;
        loop {
            let n = worker.tick().await.expect("deliver mail");
            if n == 0 {
                return total;
            }
            total += n;
        }
    }

    /// The app's DATA_DIR.
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn req(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let rb = self.client.request(method, self.url(path));
        match token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.req(Method::GET, path, Some(token))
            .send()
            .await
            .expect("request")
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.req(Method::POST, path, Some(token))
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    /// Creates a user straight through the library, as `engagement-tracker user create` does.
    pub async fn seed_user(&self, email: &str, org_id: &str, role: Role) -> String {
        let db = self.db.clone();
        let input = NewUser {
            email: email.into(),
            display_name: email.into(),
            organization_id: org_id.into(),
            role,
            prefecture_code: (role == Role::PrefectureViewer).then(|| "13".into()),
            password: PASSWORD.into(),
        };
        let now = self.clock().now();
        tokio::task::spawn_blocking(move || {
            let draft = UserDraft::new(input).expect("valid user");
            db.write_blocking(|conn| draft.insert(conn, now))
                .expect("insert user")
                .id
                .into_string()
        })
        .await
        .expect("join")
    }

    /// An empty database with a prime contractor and its admin; returns the admin's token and
    /// the prime organisation's id.
    pub async fn bootstrap(&self) -> (String, String) {
        let db = self.db.clone();
        let now = self.clock().now();
        let prime = tokio::task::spawn_blocking(move || {
            db.write_blocking(|conn| {
                engagement_tracker::api::orgs::create_org(
                    conn,
                    "Prime Contractor",
                    engagement_tracker::domain::orgs::OrgKind::Prime,
                    None,
                    now,
                )
            })
            .expect("prime org")
            .id
            .into_string()
        })
        .await
        .expect("join");
        self.seed_user("admin@prime.example", &prime, Role::Admin)
            .await;
        (self.login("admin@prime.example").await, prime)
    }

    pub async fn login(&self, email: &str) -> String {
        let res = self
            .req(Method::POST, "/api/v1/auth/token", None)
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200, "login of {email}");
        let body: Value = res.json().await.expect("json");
        body["access_token"].as_str().expect("token").to_owned()
    }

    /// Creates an organisation through the API; returns its id.
    pub async fn create_org(
        &self,
        admin: &str,
        name: &str,
        kind: &str,
        parent: Option<&str>,
    ) -> String {
        let res = self
            .post(
                "/api/v1/organizations",
                admin,
                json!({"name": name, "kind": kind, "parent_id": parent}),
            )
            .await;
        assert_eq!(res.status(), 201, "create org {name}");
        let body: Value = res.json().await.expect("json");
        body["id"].as_str().expect("id").to_owned()
    }
}

/// Asserts a problem+json answer with this status; returns the body.
pub async fn problem(res: Response, status: u16) -> Value {
    assert_eq!(res.status(), status, "status");
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(ct, "application/problem+json");
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["status"], status);
    assert!(body["type"]
        .as_str()
        .is_some_and(|t| t.starts_with("/problems/")));
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    body
}

/// A valid 10-digit institution code: prefecture, fee table 1, district and number, Luhn digit.
pub fn institution_code(prefecture: &str, district: u32, number: u32) -> String {
    let nine = format!("{prefecture}1{district:02}{number:04}");
    format!("{nine}{}", luhn(&nine))
}

pub fn luhn(digits: &str) -> u32 {
    let sum: u32 = digits
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    (10 - sum % 10) % 10
}

#[test]
fn luhn_matches_the_domain_example() {
    assert_eq!(luhn("011011371"), 9);
}

/// A tiny valid PNG (1×1).
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

pub const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

/// The setting most engagement tests start from: an admin, round FY2025, subcontractor A with a
/// coordinator, and a hospital with two contacts.
pub struct World {
    pub admin: String,
    pub prime: String,
    pub sub_a: String,
    pub coord_a: String,
}

impl TestApp {
    pub async fn world(&self) -> World {
        let (admin, prime) = self.bootstrap().await;
        let res = self
            .post("/api/v1/rounds", &admin, json!({"name": "FY2025"}))
            .await;
        assert_eq!(res.status(), 201, "create round");
        let sub_a = self
            .create_org(&admin, "Sub A", "subcontractor", Some(&prime))
            .await;
        self.seed_user("coord@a.example", &sub_a, Role::Coordinator)
            .await;
        let coord_a = self.login("coord@a.example").await;
        World {
            admin,
            prime,
            sub_a,
            coord_a,
        }
    }

    /// Registers a hospital with two contacts; returns its id.
    pub async fn hospital(&self, admin: &str, code: &str, name: &str, beds: i64) -> String {
        let res = self
            .post(
                "/api/v1/hospitals",
                admin,
                json!({"prefecture": "13", "institution_code": code, "name": name,
                       "address": "東京都千代田区", "beds": beds, "emr_status": "full"}),
            )
            .await;
        assert_eq!(res.status(), 201, "create hospital {name}");
        let h: Value = res.json().await.expect("json");
        let id = h["id"].as_str().expect("id").to_owned();
        for (n, email) in [
            ("山田 太郎", "yamada@hospital.example"),
            ("髙橋 花子", "takahashi@hospital.example"),
        ] {
            let res = self
                .post(
                    &format!("/api/v1/hospitals/{id}/contacts"),
                    admin,
                    json!({"name": n, "department": "情報システム課", "email": email}),
                )
                .await;
            assert_eq!(res.status(), 201);
        }
        id
    }

    /// A hospital of Tokyo selected and assigned to subcontractor A, consented, with its
    /// memorandum executed (so confidential material may come in); returns the engagement id.
    pub async fn executed_engagement(&self, w: &World, code: &str, name: &str) -> String {
        let h = self.hospital(&w.admin, code, name, 100).await;
        let e = self.engagement(&w.admin, &h, Some(&w.sub_a)).await;
        let res = self.step(&w.coord_a, &e, "consent", json!({})).await;
        assert_eq!(res.status(), 200, "consent");
        let res = self
            .req(
                Method::PUT,
                &format!("/api/v1/engagements/{e}/memorandum"),
                Some(&w.coord_a),
            )
            .json(&json!({"status": "executed"}))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200, "memorandum executed");
        e
    }

    /// Selects a hospital for the round and assigns it; returns the engagement id.
    pub async fn engagement(&self, admin: &str, hospital_id: &str, org: Option<&str>) -> String {
        let res = self
            .post(
                "/api/v1/engagements",
                admin,
                json!({"round": "FY2025", "hospital_id": hospital_id, "organization_id": org, "rank": 1}),
            )
            .await;
        assert_eq!(res.status(), 201, "create engagement");
        let e: Value = res.json().await.expect("json");
        e["id"].as_str().expect("id").to_owned()
    }

    /// Uploads one file as a document of the given purpose.
    pub async fn upload(
        &self,
        token: &str,
        engagement: &str,
        purpose: &str,
        name: &str,
        bytes: &[u8],
    ) -> Response {
        let part = reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned());
        let form = reqwest::multipart::Form::new().part("file", part);
        self.req(
            Method::POST,
            &format!("/api/v1/engagements/{engagement}/documents?purpose={purpose}"),
            Some(token),
        )
        .multipart(form)
        .send()
        .await
        .expect("request")
    }

    /// The engagement's documents, every version (the list answer's items).
    pub async fn documents(&self, token: &str, engagement: &str) -> Vec<Value> {
        let res = self
            .get(
                &format!("/api/v1/engagements/{engagement}/documents"),
                token,
            )
            .await;
        assert_eq!(res.status(), 200, "list documents");
        let v: Value = res.json().await.expect("json");
        v.as_array().expect("an array").clone()
    }

    pub async fn step(&self, token: &str, engagement: &str, what: &str, body: Value) -> Response {
        self.post(
            &format!("/api/v1/engagements/{engagement}/{what}"),
            token,
            body,
        )
        .await
    }

    /// A step a test sets up with: it must succeed (200); answers the engagement's detail.
    pub async fn step_ok(&self, token: &str, engagement: &str, what: &str, body: Value) -> Value {
        let res = self.step(token, engagement, what, body).await;
        let status = res.status();
        let body = res.text().await.expect("body");
        assert_eq!(status, 200, "step {what}: {body}");
        serde_json::from_str(&body).expect("json")
    }
}

struct Settings<'a>(Vec<(&'a str, &'a str)>);

impl engagement_tracker::config::Source for Settings<'_> {
    fn get(&self, key: &str) -> Option<String> {
        // The last value wins, so extras override the defaults above.
        self.0
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| (*v).to_owned())
    }
}

/// A real SMTP server on loopback (mailin-embedded), keeping what it receives.
#[derive(Clone, Default)]
pub struct SmtpSink {
    pub received: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    current: Vec<u8>,
}

impl mailin_embedded::Handler for SmtpSink {
    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        _to: &[String],
    ) -> mailin_embedded::Response {
        self.current.clear();
        mailin_embedded::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        let message = std::mem::take(&mut self.current);
        if let Ok(mut r) = self.received.lock() {
            r.push(message);
        }
        mailin_embedded::response::OK
    }
}

impl SmtpSink {
    /// A free loopback port (nothing listens on it until `start`).
    pub fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port()
    }

    /// Starts serving on `port` in a thread of its own; it runs until the test process ends.
    pub fn start(&self, port: u16) {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind SMTP port");
        let mut server = mailin_embedded::Server::new(self.clone());
        server.with_name("smtp.test").with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
    }

    pub fn count(&self) -> usize {
        self.received.lock().map(|r| r.len()).unwrap_or(0)
    }

    /// Waits (up to 20 s) until `n` messages have arrived; returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Vec<u8>> {
        for _ in 0..400 {
            if self.count() >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let got = self.received.lock().map(|r| r.clone()).unwrap_or_default();
        assert!(got.len() >= n, "expected {n} messages, got {}", got.len());
        got
    }
}

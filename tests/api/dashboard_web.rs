//! The web dashboard over HTTP: signing in and out, the session cookie, CSRF, idle expiry, the
//! scope of each role; and the privacy promise — no dashboard answer, page or export, for any
//! role, holds a contact, a document, an answer, a finding or a mail.

use std::collections::BTreeMap;

use engagement_tracker::domain::access::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{institution_code, spawn, spawn_with, TestApp, PASSWORD, PNG};

/// A browser without JavaScript: keeps cookies, does not follow redirects.
pub struct Web<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
    /// The raw `Set-Cookie` headers of the last answer.
    pub set_cookie: Vec<String>,
}

impl<'a> Web<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Web {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
            set_cookie: Vec::new(),
        }
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
    ) -> (StatusCode, String, Option<String>) {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut rb = self.client.request(method, self.app.url(path));
        if !cookie.is_empty() {
            rb = rb.header("cookie", cookie);
        }
        if let Some(f) = form {
            rb = rb.form(f);
        }
        let res = rb.send().await.unwrap();
        self.set_cookie = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for c in &self.set_cookie {
            let (pair, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() || c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let status = res.status();
        let location = res
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, res.text().await.unwrap(), location)
    }

    pub async fn get(&mut self, path: &str) -> (StatusCode, String, Option<String>) {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, String, Option<String>) {
        self.send(Method::POST, path, Some(form)).await
    }

    pub async fn bytes(&self, path: &str) -> (StatusCode, Vec<u8>) {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let res = self
            .client
            .get(self.app.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        (res.status(), res.bytes().await.unwrap().to_vec())
    }

    /// Signs in through the form; returns the page's CSRF token for later forms.
    pub async fn sign_in(&mut self, email: &str) -> String {
        let (status, page, _) = self.get("/dashboard/login").await;
        assert_eq!(status, 200);
        let csrf = field(&page, "csrf");
        let (status, _, location) = self
            .post(
                "/dashboard/login",
                &[("email", email), ("password", PASSWORD), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(status, 303, "signed in");
        assert_eq!(location.as_deref(), Some("/dashboard"));
        let (status, page, _) = self.get("/dashboard").await;
        assert_eq!(status, 200, "{page}");
        field(&page, "csrf")
    }
}

/// The value of a hidden form field.
pub fn field(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} in {page}"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// The number a headline figure shows.
pub fn figure(page: &str, name: &str) -> i64 {
    let marker = format!("data-figure=\"{name}\">");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("figure {name}"))
        + marker.len();
    page[start..]
        .split('<')
        .next()
        .unwrap()
        .replace(',', "")
        .trim()
        .parse()
        .unwrap()
}

async fn ok(res: reqwest::Response) -> Value {
    let status = res.status();
    let body = res.text().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Round FY2025, two hospitals in Tokyo and one in Osaka; a ministry viewer and Tokyo's.
async fn small_world(app: &TestApp) -> (String, String) {
    let w = app.world().await;
    let a = &w.admin;
    for (pref, n, name) in [
        ("13", 1, "架空東病院"),
        ("13", 2, "架空西病院"),
        ("27", 3, "架空南病院"),
    ] {
        let h = ok(app
            .post("/api/v1/hospitals", a, json!({"prefecture": pref, "institution_code": institution_code(pref, 1, n), "name": name, "beds": 120}))
            .await)
        .await;
        let e = app
            .engagement(a, h["id"].as_str().unwrap(), Some(&w.sub_a))
            .await;
        ok(app
            .step(
                a,
                &e,
                "contact-attempts",
                json!({"channel": "phone", "outcome": "reached"}),
            )
            .await)
        .await;
    }
    let ministry = app.create_org(a, "厚生労働省", "ministry", None).await;
    app.seed_user("viewer@mhlw.example", &ministry, Role::Viewer)
        .await;
    let tokyo = app.create_org(a, "東京都", "prefecture", None).await;
    app.seed_user("pref@tokyo.example", &tokyo, Role::PrefectureViewer)
        .await;
    (w.admin, w.sub_a)
}

#[tokio::test]
async fn sign_in_shows_the_api_figures_and_sign_out_ends_the_session() {
    let app = spawn().await;
    let (admin, _) = small_world(&app).await;
    let mut web = Web::new(&app);

    // Nothing without signing in.
    let (status, _, location) = web.get("/dashboard").await;
    assert_eq!(
        (status.as_u16(), location.as_deref()),
        (303, Some("/dashboard/login"))
    );

    // The sign-in form sets its CSRF cookie; a POST without the matching token is refused.
    let (_, page, _) = web.get("/dashboard/login").await;
    assert!(page.contains("サインイン"));
    let pre = web
        .set_cookie
        .iter()
        .find(|c| c.starts_with("et_dash_login="))
        .unwrap()
        .clone();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/dashboard"] {
        assert!(pre.contains(attr), "{attr} in {pre}");
    }
    let (status, _, _) = web
        .post(
            "/dashboard/login",
            &[
                ("email", "viewer@mhlw.example"),
                ("password", PASSWORD),
                ("csrf", "forged"),
            ],
        )
        .await;
    assert_eq!(status, 403);
    // A wrong password: 401 and a Japanese message, no session.
    let csrf = field(&page, "csrf");
    let (status, page, _) = web
        .post(
            "/dashboard/login",
            &[
                ("email", "viewer@mhlw.example"),
                ("password", "wrong password!"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(status, 401);
    assert!(page.contains("メールアドレスまたはパスワードが正しくありません"));
    assert!(!web.cookies.contains_key("et_dash"));

    let csrf = web.sign_in("viewer@mhlw.example").await;
    let (_, page, _) = web.get("/dashboard?round=FY2025").await;
    let session = web.cookies.get("et_dash").cloned().unwrap();
    assert!(session.len() >= 40);
    // Figures on the page are the API's.
    let s = ok(app
        .get("/api/v1/dashboard/summary?round=FY2025", &admin)
        .await)
    .await;
    assert_eq!(
        figure(&page, "selected"),
        s["totals"]["selected"].as_i64().unwrap()
    );
    assert_eq!(
        figure(&page, "contacted"),
        s["totals"]["reached"]["contacting"].as_i64().unwrap()
    );
    assert_eq!(
        figure(&page, "overdue"),
        s["totals"]["overdue"].as_i64().unwrap()
    );
    assert_eq!(figure(&page, "slots"), 0);
    // Charts are inline SVG; nothing is loaded from elsewhere and nothing runs.
    assert!(page.contains("<svg class=\"chart map\""));
    assert!(page.contains("<svg class=\"chart flow\""));
    assert!(page.contains("<svg class=\"chart bars\""));
    assert!(!page.contains("<script"));
    assert!(!page.contains("src=\"http") && !page.contains("href=\"http"));
    assert!(page.contains("@page{size:A4 landscape"));

    let (status, page, _) = web.get("/dashboard/hospitals?round=FY2025&sort=name").await;
    assert_eq!(status, 200);
    assert_eq!(figure(&page, "total"), 3);
    assert!(page.contains("架空東病院") && page.contains("参加意思の確認"));

    // Sign-out needs the session's CSRF token.
    let (status, _, _) = web.post("/dashboard/logout", &[("csrf", "forged")]).await;
    assert_eq!(status, 403);
    let (status, _, location) = web.post("/dashboard/logout", &[("csrf", &csrf)]).await;
    assert_eq!(
        (status.as_u16(), location.as_deref()),
        (303, Some("/dashboard/login"))
    );
    assert!(web
        .set_cookie
        .iter()
        .any(|c| c.starts_with("et_dash=") && c.contains("Max-Age=0")));
    // The old cookie is worth nothing now, on any replica: the session is gone from the database.
    web.cookies.insert("et_dash".into(), session);
    let (status, _, _) = web.get("/dashboard").await;
    assert_eq!(status, 303);
}

/// The dashboard's sign-in shares the API's login throttle: failures through either count,
/// and past the budget even the right password answers 429 with `Retry-After`.
#[tokio::test]
async fn failed_sign_ins_are_throttled_like_api_logins() {
    let app = spawn().await;
    small_world(&app).await;
    let mut web = Web::new(&app);
    let mut status = StatusCode::OK;
    for _ in 0..6 {
        let (_, page, _) = web.get("/dashboard/login").await;
        let csrf = field(&page, "csrf");
        let (s, _, _) = web
            .post(
                "/dashboard/login",
                &[
                    ("email", "viewer@mhlw.example"),
                    ("password", "wrong password!"),
                    ("csrf", &csrf),
                ],
            )
            .await;
        status = s;
        if s == StatusCode::TOO_MANY_REQUESTS {
            break;
        }
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "locked after failures"
    );
    let (_, page, _) = web.get("/dashboard/login").await;
    let csrf = field(&page, "csrf");
    let res = app
        .client
        .post(app.url("/dashboard/login"))
        .header(
            "cookie",
            format!("et_dash_login={}", web.cookies["et_dash_login"]),
        )
        .form(&[
            ("email", "viewer@mhlw.example"),
            ("password", PASSWORD),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429, "even the right password waits");
    assert!(res.headers().get("retry-after").is_some());
    assert!(res.text().await.unwrap().contains("しばらくお待ちください"));
    let res = app
        .req(Method::POST, "/api/v1/auth/token", None)
        .json(&json!({"email": "viewer@mhlw.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429, "the API sees the same lockout");
}

#[tokio::test]
async fn the_session_cookie_is_secure_behind_https_and_ends_when_idle() {
    let app = spawn_with(&[("PUBLIC_BASE_URL", "https://dashboard.example")]).await;
    small_world(&app).await;
    let mut web = Web::new(&app);
    let (_, page, _) = web.get("/dashboard/login").await;
    let csrf = field(&page, "csrf");
    web.post(
        "/dashboard/login",
        &[
            ("email", "viewer@mhlw.example"),
            ("password", PASSWORD),
            ("csrf", &csrf),
        ],
    )
    .await;
    let cookie = web
        .set_cookie
        .iter()
        .find(|c| c.starts_with("et_dash="))
        .unwrap()
        .clone();
    for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/dashboard"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    assert_eq!(web.get("/dashboard").await.0, 200);

    // Half an hour without a request ends it.
    {
        use diesel::prelude::*;
        use engagement_tracker::db::schema::dashboard_sessions::dsl::*;
        let db = app.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.pool.get().unwrap();
            diesel::update(dashboard_sessions)
                .set(last_seen_at.eq(engagement_tracker::db::now() - chrono::Duration::minutes(31)))
                .execute(&mut *conn)
                .unwrap();
        })
        .await
        .unwrap();
    }
    let (status, _, location) = web.get("/dashboard").await;
    assert_eq!(
        (status.as_u16(), location.as_deref()),
        (303, Some("/dashboard/login"))
    );
}

#[tokio::test]
async fn a_prefecture_viewer_sees_its_own_prefecture_only() {
    let app = spawn().await;
    let (admin, _) = small_world(&app).await;
    let mut web = Web::new(&app);
    web.sign_in("pref@tokyo.example").await;
    let (_, page, _) = web.get("/dashboard").await;
    let s = ok(app
        .get("/api/v1/dashboard/summary?prefecture=13", &admin)
        .await)
    .await;
    assert_eq!(figure(&page, "selected"), 2);
    assert_eq!(
        figure(&page, "selected"),
        s["totals"]["selected"].as_i64().unwrap()
    );
    assert!(page.contains("（東京都）"));
    let (status, page, _) = web.get("/dashboard?prefecture=27").await;
    assert_eq!(status, 403);
    assert!(page.contains("表示できません"));
    let (status, _) = web
        .bytes("/dashboard/export?prefecture=27&format=csv")
        .await;
    assert_eq!(status, 403);
    let (status, bytes) = web.bytes("/dashboard/export?format=xlsx").await;
    assert_eq!(status, 200);
    assert!(bytes.starts_with(b"PK"), "an XLSX (zip) file");
    let (status, page, _) = web.get("/dashboard/hospitals").await;
    assert_eq!(status, 200);
    assert!(page.contains("架空東病院") && !page.contains("架空南病院"));
}

/// Values that must never reach a dashboard.
const SECRETS: &[&str] = &[
    "秘密 太郎",
    "secret.contact@hospital.example",
    "03-9999-0000",
    "極秘ベンダー担当",
    "vendor.secret@vendor.example",
    "secret-network-diagram",
    "極秘回答テキスト",
    "極秘指摘事項",
    "極秘の推奨事項",
    "極秘辞退理由",
    "極秘メモ",
    "極秘の連絡記録",
];

/// Text of an XLSX: every cell of every sheet.
fn xlsx_text(bytes: &[u8]) -> String {
    use calamine::{open_workbook_from_rs, Reader, Xlsx};
    let mut book: Xlsx<_> = open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut out = String::new();
    for name in book.sheet_names() {
        let range = book.worksheet_range(&name).unwrap();
        for row in range.rows() {
            for c in row {
                out.push_str(&c.to_string());
                out.push('\t');
            }
        }
    }
    out
}

#[tokio::test]
async fn no_dashboard_answer_or_export_holds_personal_or_confidential_content() {
    let app = spawn().await;
    let w = app.world().await;
    let a = &w.admin;
    let c = &w.coord_a;
    // A hospital with named contacts and a named vendor contact, at every kind of step that
    // stores something confidential.
    let h = ok(app
        .post("/api/v1/hospitals", a, json!({"prefecture": "13", "institution_code": institution_code("13", 1, 1),
            "name": "架空秘密病院", "beds": 200, "system_vendor": {"company": "架空システム", "contact": "極秘ベンダー担当",
            "email": "vendor.secret@vendor.example"}}))
        .await)
    .await;
    let hid = h["id"].as_str().unwrap();
    ok(app
        .post(&format!("/api/v1/hospitals/{hid}/contacts"), a, json!({"name": "秘密 太郎", "email": "secret.contact@hospital.example", "phone": "03-9999-0000"}))
        .await)
    .await;
    let e = app.engagement(a, hid, Some(&w.sub_a)).await;
    ok(app
        .step(
            c,
            &e,
            "contact-attempts",
            json!({"channel": "phone", "outcome": "reached", "note": "極秘の連絡記録"}),
        )
        .await)
    .await;
    ok(app
        .post(
            &format!("/api/v1/engagements/{e}/emails"),
            c,
            json!({"kind": "first_contact"}),
        )
        .await)
    .await;
    ok(app.step(c, &e, "consent", json!({})).await).await;
    ok(app
        .req(
            Method::PUT,
            &format!("/api/v1/engagements/{e}/memorandum"),
            Some(c),
        )
        .json(&json!({"status": "executed"}))
        .send()
        .await
        .unwrap())
    .await;
    ok(app
        .upload(c, &e, "diagram", "secret-network-diagram.png", PNG)
        .await)
    .await;
    ok(app
        .req(
            Method::PUT,
            &format!("/api/v1/engagements/{e}/questionnaire"),
            Some(c),
        )
        .json(&json!({"answers": {"hearing.notes": {"text": "極秘回答テキスト"}}}))
        .send()
        .await
        .unwrap())
    .await;
    ok(app.step(c, &e, "findings", json!({"title": "極秘指摘事項", "severity": "high", "recommendation": "極秘の推奨事項"})).await).await;
    ok(app
        .req(Method::PATCH, &format!("/api/v1/engagements/{e}"), Some(c))
        .json(&json!({"note": "極秘メモ"}))
        .send()
        .await
        .unwrap())
    .await;
    // A second hospital declined with a reason.
    let h2 = ok(app
        .post("/api/v1/hospitals", a, json!({"prefecture": "13", "institution_code": institution_code("13", 1, 2), "name": "架空辞退病院", "beds": 80}))
        .await)
    .await;
    let e2 = app
        .engagement(a, h2["id"].as_str().unwrap(), Some(&w.sub_a))
        .await;
    ok(app
        .step(
            c,
            &e2,
            "side-state",
            json!({"state": "declined", "reason": "極秘辞退理由"}),
        )
        .await)
    .await;

    // They are stored (the coordinator's API shows them), so their absence below means something.
    let detail = app
        .get(&format!("/api/v1/engagements/{e}"), a)
        .await
        .text()
        .await
        .unwrap();
    for secret in ["秘密 太郎", "03-9999-0000", "極秘ベンダー担当", "極秘メモ"] {
        assert!(detail.contains(secret), "{secret} stored");
    }
    let findings = app
        .get(&format!("/api/v1/engagements/{e}/findings"), a)
        .await
        .text()
        .await
        .unwrap();
    assert!(findings.contains("極秘指摘事項"));

    // Every role, every dashboard answer, page and export.
    let ministry = app.create_org(a, "厚生労働省", "ministry", None).await;
    app.seed_user("viewer@mhlw.example", &ministry, Role::Viewer)
        .await;
    let tokyo = app.create_org(a, "東京都", "prefecture", None).await;
    app.seed_user("pref@tokyo.example", &tokyo, Role::PrefectureViewer)
        .await;
    let accounts = [
        "admin@prime.example",
        "coord@a.example",
        "viewer@mhlw.example",
        "pref@tokyo.example",
    ];
    let mut checked = 0;
    for email in accounts {
        let token = app.login(email).await;
        let mut texts: Vec<(String, String)> = Vec::new();
        for path in [
            "/api/v1/dashboard/summary",
            "/api/v1/dashboard/trend",
            "/api/v1/dashboard/durations",
            "/api/v1/dashboard/hospitals",
            "/api/v1/dashboard/export?format=csv",
            "/api/v1/dashboard/export?format=csv&table=prefectures",
        ] {
            let res = app.get(path, &token).await;
            assert_eq!(res.status(), 200, "{email} {path}");
            texts.push((
                path.into(),
                String::from_utf8_lossy(&res.bytes().await.unwrap()).into_owned(),
            ));
        }
        let res = app
            .get("/api/v1/dashboard/export?format=csv&encoding=cp932", &token)
            .await;
        let bytes = res.bytes().await.unwrap();
        texts.push((
            "cp932".into(),
            encoding_rs::SHIFT_JIS.decode(&bytes).0.into_owned(),
        ));
        let res = app
            .get("/api/v1/dashboard/export?format=xlsx", &token)
            .await;
        texts.push(("xlsx".into(), xlsx_text(&res.bytes().await.unwrap())));
        let mut web = Web::new(&app);
        web.sign_in(email).await;
        for path in ["/dashboard", "/dashboard/hospitals"] {
            let (status, page, _) = web.get(path).await;
            assert_eq!(status, 200, "{email} {path}");
            texts.push((path.into(), page));
        }
        for (path, text) in &texts {
            // The lists do show the hospital itself: the search looks at real answers.
            let lists = [
                "/api/v1/dashboard/hospitals",
                "/api/v1/dashboard/export?format=csv",
                "cp932",
                "xlsx",
                "/dashboard/hospitals",
            ];
            if lists.contains(&path.as_str()) {
                assert!(
                    text.contains("架空秘密病院"),
                    "{email} {path} lists the hospital"
                );
            }
            for secret in SECRETS {
                assert!(!text.contains(secret), "{email}: {path} holds {secret}");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 4 * 10);
}

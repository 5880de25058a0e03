//! The web dashboard's routes: sign-in and sign-out, the overview, the hospitals table and the
//! export — thin glue between the cookie, the `service::dashboard` use cases and the pages.

use actix_web::cookie::{time::Duration as CookieAge, Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Deserialize;

use super::pages;
use super::session::{self, Signed, COOKIE, LOGIN_COOKIE};
use crate::app::AppState;
use crate::error::AppError;
use crate::service::dashboard::export::{export, ExportQuery};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(overview)
        .service(hospitals)
        .service(export_file)
        .service(login_form)
        .service(login)
        .service(logout);
}

/// The filters the pages take; blanks (as forms send them) mean "not set".
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageQuery {
    pub round: Option<String>,
    pub prefecture: Option<String>,
    pub tier: Option<String>,
    pub organization_id: Option<String>,
    pub stage: Option<String>,
    pub overdue: Option<String>,
    pub sort: Option<String>,
    pub cursor: Option<String>,
    pub format: Option<String>,
    pub encoding: Option<String>,
    pub table: Option<String>,
}

impl PageQuery {
    pub fn clean(mut self) -> Self {
        for f in [
            &mut self.round,
            &mut self.prefecture,
            &mut self.tier,
            &mut self.organization_id,
            &mut self.stage,
            &mut self.overdue,
            &mut self.sort,
            &mut self.cursor,
            &mut self.format,
            &mut self.encoding,
            &mut self.table,
        ] {
            if f.as_deref().is_some_and(|v| v.trim().is_empty()) {
                *f = None;
            }
        }
        self
    }
}

fn secure_cookies(state: &AppState) -> bool {
    state.config.public_base_url.starts_with("https://")
}

fn cookie<'a>(state: &AppState, name: &'a str, value: String) -> Cookie<'a> {
    Cookie::build(name, value)
        .path("/dashboard")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure_cookies(state))
        .finish()
}

fn removal<'a>(state: &AppState, name: &'a str) -> Cookie<'a> {
    let mut c = cookie(state, name, String::new());
    c.set_max_age(CookieAge::ZERO);
    c
}

fn html(status: StatusCode, body: String) -> HttpResponse {
    crate::portal::handlers::secure(
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body),
    )
}

fn to_login() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/dashboard/login"))
        .finish()
}

/// The signed-in user behind the request's cookie, if any.
async fn signed(
    state: &web::Data<AppState>,
    req: &HttpRequest,
) -> Result<Option<Signed>, AppError> {
    let Some(secret) = req.cookie(COOKIE).map(|c| c.value().to_owned()) else {
        return Ok(None);
    };
    let now = state.clock().now();
    state
        .db
        .read(move |conn| session::resume(conn, &secret, now))
        .await
}

fn error_page(e: AppError, s: Option<&Signed>) -> HttpResponse {
    if let AppError::Internal(err) = &e {
        tracing::error!(error = ?err, "dashboard");
    }
    let status = actix_web::ResponseError::status_code(&e);
    let mut res = html(status, pages::error(&e, s));
    if let AppError::TooManyRequests {
        retry_after_secs, ..
    } = &e
    {
        res.headers_mut()
            .insert(header::RETRY_AFTER, (*retry_after_secs).into());
    }
    res
}

/// A page for a signed-in user: its figures read on one connection, then rendered; the login
/// page for anyone else, an error page on failure.
async fn page<D, R, P>(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    query: PageQuery,
    read: R,
    render: P,
) -> HttpResponse
where
    D: Send + 'static,
    R: FnOnce(
            &mut crate::db::DbConnection,
            &crate::domain::pipeline::Sla,
            &crate::service::dashboard::Viewer,
            &PageQuery,
            chrono::DateTime<Utc>,
        ) -> crate::error::AppResult<D>
        + Send
        + 'static,
    P: FnOnce(&D, &PageQuery, &Signed) -> crate::error::AppResult<String>,
{
    let s = match signed(state, req).await {
        Ok(Some(s)) => s,
        Ok(None) => return to_login(),
        Err(e) => return error_page(e, None),
    };
    let q = query.clean();
    let (sla, viewer, qq, now) = (
        state.config.sla.clone(),
        s.viewer.clone(),
        q.clone(),
        state.clock().now_utc(),
    );
    let data = state
        .db
        .read(move |conn| read(conn, &sla, &viewer, &qq, now))
        .await;
    match data.and_then(|d| render(&d, &q, &s)) {
        Ok(body) => html(StatusCode::OK, body),
        Err(e) => error_page(e, Some(&s)),
    }
}

#[get("/dashboard")]
pub async fn overview(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<PageQuery>,
) -> HttpResponse {
    page(
        &state,
        &req,
        query.into_inner(),
        pages::overview_data,
        pages::overview,
    )
    .await
}

#[get("/dashboard/hospitals")]
pub async fn hospitals(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<PageQuery>,
) -> HttpResponse {
    page(
        &state,
        &req,
        query.into_inner(),
        pages::hospitals_data,
        pages::hospitals,
    )
    .await
}

#[get("/dashboard/export")]
pub async fn export_file(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<PageQuery>,
) -> HttpResponse {
    let s = match signed(&state, &req).await {
        Ok(Some(s)) => s,
        Ok(None) => return to_login(),
        Err(e) => return error_page(e, None),
    };
    let q = query.into_inner().clean();
    let eq = ExportQuery {
        round: q.round,
        prefecture: q.prefecture,
        tier: q.tier,
        organization_id: q.organization_id,
        format: q.format,
        encoding: q.encoding,
        table: q.table,
    };
    let (sla, viewer, now) = (
        state.config.sla.clone(),
        s.viewer.clone(),
        state.clock().now_utc(),
    );
    match state
        .db
        .read(move |conn| export(conn, &sla, &viewer, &eq, now))
        .await
    {
        Ok(file) => crate::edge::attachment(file),
        Err(e) => error_page(e, Some(&s)),
    }
}

#[get("/dashboard/login")]
pub async fn login_form(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    if let Ok(Some(_)) = signed(&state, &req).await {
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/dashboard"))
            .finish();
    }
    let token = session::random_token();
    let mut res = html(StatusCode::OK, pages::login(&token, "", None));
    let _ = res.add_cookie(&cookie(&state, LOGIN_COOKIE, token));
    res
}

#[derive(Deserialize)]
pub struct LoginForm {
    pub email: String,
    pub password: String,
    pub csrf: String,
}

#[post("/dashboard/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    let LoginForm {
        email,
        password,
        csrf,
    } = form.into_inner();
    let expected = req
        .cookie(LOGIN_COOKIE)
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    if !session::same(&expected, &csrf) {
        return error_page(
            AppError::Forbidden("the form's CSRF token does not match".into()),
            None,
        );
    }
    let shown_email = email.clone();
    let address = crate::auth::client::address(&req, &state.config.trusted_proxies);
    let opened = async {
        let user =
            crate::auth::login::check(&state.db, &state.throttle, &email, password, &address)
                .await?;
        let now = state.clock().now();
        state
            .db
            .write(move |conn| session::open(conn, &user, now))
            .await
    }
    .await;
    match opened {
        Ok(secret) => {
            let mut res = HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/dashboard"))
                .finish();
            let _ = res.add_cookie(&cookie(&state, COOKIE, secret));
            let _ = res.add_cookie(&removal(&state, LOGIN_COOKIE));
            res
        }
        Err(AppError::Unauthorized(_)) => {
            let token = session::random_token();
            let mut res = html(
                StatusCode::UNAUTHORIZED,
                pages::login(
                    &token,
                    &shown_email,
                    Some("メールアドレスまたはパスワードが正しくありません。"),
                ),
            );
            let _ = res.add_cookie(&cookie(&state, LOGIN_COOKIE, token));
            res
        }
        Err(e) => error_page(e, None),
    }
}

#[derive(Deserialize)]
pub struct LogoutForm {
    pub csrf: String,
}

#[post("/dashboard/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LogoutForm>,
) -> HttpResponse {
    let s = match signed(&state, &req).await {
        Ok(Some(s)) => s,
        Ok(None) => return to_login(),
        Err(e) => return error_page(e, None),
    };
    if !session::same(&s.csrf, &form.csrf) {
        return error_page(
            AppError::Forbidden("the form's CSRF token does not match".into()),
            Some(&s),
        );
    }
    let id = s.session_id.clone();
    if let Err(e) = state.db.write(move |conn| session::close(conn, &id)).await {
        return error_page(e, Some(&s));
    }
    let mut res = to_login();
    let _ = res.add_cookie(&removal(&state, COOKIE));
    res
}

//! The pages behind emailed links (`/p/{purpose}/{token}`). A link opens only its purpose;
//! every view and every action lands in the timeline as the contact who acted (time, IP address,
//! user agent) and drives the same milestones as the coordinator API.

use actix_multipart::Multipart;
use actix_web::http::{header, StatusCode};
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use serde_json::json;

use super::actions::{parse_act, perform, Act};
use super::pages::{self, Notice, PageError};
use crate::app::AppState;
use crate::auth::client;
use crate::auth::links::{self, LinkClaims, LinkError, Purpose};
use crate::db::engagements::EngagementRow;
use crate::db::hospitals::{ContactRow, HospitalRow};
use crate::db::{self, DbConnection};
use crate::edge::upload::{self, Upload};
use crate::error::AppError;
use crate::service::intake::{self, Purpose as DocPurpose};
use crate::service::step::{self, Who};

/// A link that opened: who it is for and what it is about.
#[derive(Clone)]
pub struct Opened {
    pub claims: LinkClaims,
    pub engagement: EngagementRow,
    pub contact: ContactRow,
    pub hospital: HospitalRow,
}

/// Where the request came from, for the timeline.
#[derive(Clone)]
pub struct Origin {
    pub ip: String,
    pub user_agent: String,
}

impl Origin {
    fn of(req: &HttpRequest, trusted_proxies: &[ipnet::IpNet]) -> Self {
        Origin {
            ip: client::address(req, trusted_proxies),
            user_agent: req
                .headers()
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect(),
        }
    }
}

impl Opened {
    pub fn who(&self) -> Who {
        Who {
            kind: "contact",
            id: Some(self.contact.id.to_string()),
            label: format!("{}（{}）", self.contact.name, self.hospital.name),
            is_admin: false,
        }
    }
}

/// Opens a link: finds the token's hash, then checks expiry, the purpose in the URL and
/// revocation, and that its contact and engagement still exist.
pub fn open(
    conn: &mut DbConnection,
    purpose: &str,
    token: &str,
    now: NaiveDateTime,
) -> Result<Opened, PageError> {
    if !links::well_formed(token) {
        return Err(PageError::Link(LinkError::Invalid));
    }
    let row =
        db::links::get(conn, &links::hash(token))?.ok_or(PageError::Link(LinkError::Invalid))?;
    let claims = LinkClaims {
        pur: Purpose::parse(&row.purpose).ok_or(PageError::Link(LinkError::Invalid))?,
        id: row.token_hash,
        eng: row.engagement_id,
        con: row.contact_id,
        expires_at: row.expires_at,
    };
    if claims.expires_at <= now {
        return Err(PageError::Link(LinkError::Expired));
    }
    if Purpose::parse(purpose) != Some(claims.pur) {
        return Err(PageError::Link(LinkError::WrongPurpose));
    }
    if row.revoked_at.is_some() {
        return Err(PageError::Link(LinkError::Revoked));
    }
    let contact =
        db::hospitals::contact(conn, &claims.con)?.ok_or(PageError::Link(LinkError::Revoked))?;
    let engagement = db::engagements::get(conn, &claims.eng)?
        .filter(|e| e.hospital_id == contact.hospital_id)
        .ok_or(PageError::Link(LinkError::Invalid))?;
    let hospital = db::hospitals::get(conn, &engagement.hospital_id)?
        .ok_or(PageError::Link(LinkError::Invalid))?;
    Ok(Opened {
        claims,
        engagement,
        contact,
        hospital,
    })
}

/// Security headers for every page: no framing, no referrer, no external anything.
pub fn secure(mut res: HttpResponse) -> HttpResponse {
    let h = res.headers_mut();
    let set = |h: &mut header::HeaderMap, k: &'static str, v: &'static str| {
        h.insert(
            header::HeaderName::from_static(k),
            header::HeaderValue::from_static(v),
        );
    };
    set(h, "content-security-policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    set(h, "referrer-policy", "no-referrer");
    set(h, "x-frame-options", "DENY");
    set(h, "x-content-type-options", "nosniff");
    set(h, "cache-control", "no-store");
    res
}

fn html(status: StatusCode, body: String) -> HttpResponse {
    secure(
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(body),
    )
}

fn error_page(
    state: &AppState,
    err: PageError,
    contact_org: Option<pages::Helpdesk>,
) -> HttpResponse {
    if let PageError::Internal(e) = &err {
        tracing::error!(error = %e, "portal");
    }
    let status = err.status();
    let body = pages::error(&err, contact_org.as_ref(), &state.config.public_base_url);
    html(status, body)
}

#[derive(serde::Deserialize)]
pub struct PageQuery {
    /// Set after an action: which confirmation to show.
    pub done: Option<String>,
}

/// Opens a link: records the view and shows the page of its purpose.
#[get("/p/{purpose}/{token}")]
pub async fn show_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    query: web::Query<PageQuery>,
) -> HttpResponse {
    let (purpose, token) = path.into_inner();
    let origin = Origin::of(&req, &state.config.trusted_proxies);
    let st = state.clone();
    let done = query.into_inner().done;
    let result = state
        .db
        .write(move |conn| {
            let opened = match open(conn, &purpose, &token, st.clock().now()) {
                Ok(o) => o,
                Err(e) => return Ok(Err((e, None))),
            };
            db::links::touch(conn, &opened.claims.id, st.clock().now())?;
            step::note(
                conn,
                &opened.who(),
                &opened.engagement,
                st.clock().now(),
                step::EventKind::LinkViewed,
                json!({"purpose": opened.claims.pur, "ip": origin.ip, "user_agent": origin.user_agent}),
            )?;
            let csrf = st.links.csrf(&opened.claims.id);
            let page = pages::render(conn, &st, &opened, &csrf, &token, done.as_deref(), None);
            Ok(page.map_err(|e| (e, Some(pages::helpdesk(conn, &opened.engagement)))))
        })
        .await;
    match result {
        Ok(Ok(body)) => html(StatusCode::OK, body),
        Ok(Err((e, help))) => error_page(&state, e, help.flatten()),
        Err(e) => error_page(&state, PageError::Internal(e.problem().detail), None),
    }
}

/// A form from a page: checks the link and the CSRF value, carries out the action, and sends
/// the browser to the page again (303) with a confirmation.
#[post("/p/{purpose}/{token}")]
pub async fn submit_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Payload,
) -> HttpResponse {
    let (purpose, token) = path.into_inner();
    let origin = Origin::of(&req, &state.config.trusted_proxies);
    // The link first: a forged or dead link is answered before a byte of the body is read.
    let (p, t, now) = (purpose.clone(), token.clone(), state.clock().now());
    let opened = match state.db.read(move |conn| Ok(open(conn, &p, &t, now))).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return error_page(&state, e, None),
        Err(e) => return error_page(&state, PageError::Internal(e.problem().detail), None),
    };
    let help = {
        let e = opened.engagement.clone();
        state
            .db
            .read(move |conn| Ok(pages::helpdesk(conn, &e)))
            .await
            .ok()
            .flatten()
    };
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("multipart/form-data"));
    // Then the form (files included), bounded as a whole. Files are sealed into storage as
    // they arrive, so the CSRF value (the form's first field) is checked before the first.
    let csrf_ok = |fields: &[(String, String)]| {
        let sent = fields
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str());
        state
            .links
            .csrf_ok(&opened.claims.id, sent.unwrap_or_default())
    };
    let csrf_refused = std::cell::Cell::new(false);
    let upload = if is_multipart {
        let gate = |fields: &[(String, String)]| {
            if csrf_ok(fields) {
                Ok(())
            } else {
                csrf_refused.set(true);
                Err(AppError::Forbidden(
                    "the form's CSRF value is missing or wrong".into(),
                ))
            }
        };
        let read = match upload::check_declared_length(&state, req.headers()) {
            Ok(()) => {
                upload::read_documents(&state, Multipart::new(req.headers(), body), gate).await
            }
            Err(e) => Err(e),
        };
        match read {
            Ok(u) => u,
            Err(_) if csrf_refused.get() => return error_page(&state, PageError::Csrf, help),
            Err(e) => return error_page(&state, PageError::from(e), help),
        }
    } else {
        match read_form(body).await {
            Ok(fields) => Upload {
                files: Vec::new(),
                fields,
            },
            Err(e) => return error_page(&state, e, help),
        }
    };
    let keys: Vec<String> = upload.files.iter().map(|f| f.stored.key.clone()).collect();
    let discard = || intake::discard(&state.files, keys.iter().map(String::as_str));
    if !csrf_ok(&upload.fields) {
        discard().await;
        return error_page(&state, PageError::Csrf, help);
    }
    let action = match parse_act(opened.claims.pur, &upload.fields, !upload.files.is_empty()) {
        Ok(a) => a,
        Err(notice) => {
            discard().await;
            return form_again(&state, &opened, &token, notice).await;
        }
    };
    let files = match action {
        Act::UploadDiagram | Act::UploadMemorandum => {
            let purpose = if matches!(action, Act::UploadDiagram) {
                DocPurpose::Diagram
            } else {
                DocPurpose::MemorandumSigned
            };
            // Refused files are removed by `check_files` itself.
            match intake::check_files(&state.files, upload.files, purpose).await {
                Ok(f) => f,
                Err(AppError::Validation(errors)) => {
                    return form_again(
                        &state,
                        &opened,
                        &token,
                        Notice::Files(errors.into_iter().map(|e| e.message).collect()),
                    )
                    .await
                }
                Err(e) => return error_page(&state, PageError::from(e), help),
            }
        }
        _ => {
            // Files sent with an action that takes none are not kept.
            discard().await;
            Vec::new()
        }
    };
    let st = state.clone();
    let o = opened.clone();
    let result = state
        .db
        .write(move |conn| Ok(perform(conn, &st, &o, &origin, action, files)))
        .await;
    match result {
        Ok(Ok(done)) => secure(
            HttpResponse::SeeOther()
                .insert_header((
                    header::LOCATION,
                    format!("/p/{purpose}/{token}?done={done}"),
                ))
                .finish(),
        ),
        // The page's action ran in a savepoint that was rolled back: nothing names the files.
        Ok(Err(PageError::Form(notice))) => {
            discard().await;
            form_again(&state, &opened, &token, notice).await
        }
        Ok(Err(e)) => {
            discard().await;
            form_again_or_error(&state, &opened, &token, e, help).await
        }
        Err(e) => error_page(&state, PageError::from(e), help),
    }
}

/// A refused step (e.g. the slot was just taken) is shown on the page itself, with what is
/// still possible; anything else gets the error page.
async fn form_again_or_error(
    state: &web::Data<AppState>,
    opened: &Opened,
    token: &str,
    e: PageError,
    help: Option<pages::Helpdesk>,
) -> HttpResponse {
    match e {
        PageError::Refused(reason) => {
            form_again(state, opened, token, Notice::Refused(reason)).await
        }
        other => error_page(state, other, help),
    }
}

/// Shows the page again with a notice next to the form (422).
async fn form_again(
    state: &web::Data<AppState>,
    opened: &Opened,
    token: &str,
    notice: Notice,
) -> HttpResponse {
    let st = state.clone();
    let o = opened.clone();
    let token = token.to_owned();
    let rendered = state
        .db
        .read(move |conn| {
            let csrf = st.links.csrf(&o.claims.id);
            Ok(pages::render(
                conn,
                &st,
                &o,
                &csrf,
                &token,
                None,
                Some(&notice),
            ))
        })
        .await;
    match rendered {
        Ok(Ok(body)) => html(StatusCode::UNPROCESSABLE_ENTITY, body),
        Ok(Err(e)) => error_page(state, e, None),
        Err(e) => error_page(state, PageError::from(e), None),
    }
}

async fn read_form(mut body: web::Payload) -> Result<Vec<(String, String)>, PageError> {
    use futures_util::StreamExt;
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|_| PageError::BadForm)?;
        if bytes.len() + chunk.len() > 256 * 1024 {
            return Err(PageError::BadForm);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(form_urlencoded::parse(&bytes).into_owned().collect())
}

/// The memorandum's text, to read and keep (and print for signing).
#[get("/p/memorandum/{token}/document")]
pub async fn memorandum_document(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> HttpResponse {
    let token = path.into_inner();
    let now = state.clock().now();
    let result = state
        .db
        .read(move |conn| {
            let opened = match open(conn, "memorandum", &token, now) {
                Ok(o) => o,
                Err(e) => return Ok(Err(e)),
            };
            let org = pages::helpdesk(conn, &opened.engagement)
                .map(|h| h.organization)
                .unwrap_or_default();
            Ok(pages::memorandum_text(&opened, &org))
        })
        .await;
    match result {
        Ok(Ok(text)) => secure(
            HttpResponse::Ok()
                .content_type("text/plain; charset=utf-8")
                .insert_header((
                    header::CONTENT_DISPOSITION,
                    crate::domain::doctype::content_disposition("秘密保持に関する覚書.txt"),
                ))
                .body(text),
        ),
        Ok(Err(e)) => error_page(&state, e, None),
        Err(e) => error_page(&state, PageError::from(e), None),
    }
}

//! Builds the actix application: routes, middleware, shared state. Used by `main` and by tests.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, DefaultHeaders};
use actix_web::{web, App, HttpResponse, HttpServer};
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::api::{self, json::MAX_JSON_BYTES, ApiDoc};
use crate::auth::jwt::Keys;
use crate::auth::links::LinkKeys;
use crate::config::Config;
use crate::db::Db;
use crate::error::AppError;
use crate::files::{LocalStorage, Storage};
use crate::metrics::Metrics;
use crate::telemetry;

/// What every handler can reach. Nothing here is needed by another replica: state lives in the
/// database.
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub keys: Arc<Keys>,
    pub metrics: Arc<Metrics>,
    /// Uploaded documents (a local directory under DATA_DIR by default).
    pub storage: Arc<dyn Storage>,
    /// Signs and checks the links in mail to hospital contacts.
    pub links: Arc<LinkKeys>,
}

impl AppState {
    /// Connects to the database and applies pending migrations.
    pub fn new(config: Config) -> anyhow::Result<Self> {
        let db = Db::connect(&config.database_url, config.db_pool_size)?;
        let applied = db.migrate()?;
        if !applied.is_empty() {
            tracing::info!(count = applied.len(), "applied migrations");
        }
        db.write_blocking(crate::api::intake::ensure_default_template)
            .map_err(|e| anyhow::anyhow!("cannot store the default questionnaire: {e}"))?;
        Ok(Self {
            storage: Arc::new(LocalStorage::new(&config.data_dir)),
            links: Arc::new(LinkKeys::new(&config.jwt_secret)),
            keys: Arc::new(Keys::new(&config.jwt_secret, config.access_token_ttl_secs)),
            metrics: Arc::new(Metrics::new()?),
            config: Arc::new(config),
            db,
        })
    }
}

/// The OpenAPI document, built from the same route table the server uses.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, doc) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(api::configure)
        .split_for_parts();
    doc
}

/// The delivery worker for this configuration.
pub fn mail_worker(config: &Config, db: Db) -> anyhow::Result<crate::mail::worker::Worker> {
    Ok(crate::mail::worker::Worker {
        app: Arc::new(config.clone()),
        links: Arc::new(LinkKeys::new(&config.jwt_secret)),
        db,
        transport: Arc::new(crate::mail::transport::Transport::from_config(
            config.smtp_url.as_deref(),
            &config.data_dir,
        )?),
        config: config.mail.clone(),
    })
}

/// Binds the routes to `listener`; the returned server runs when awaited.
pub fn server(state: AppState, listener: TcpListener, workers: usize) -> std::io::Result<Server> {
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        let (app, doc) =
            App::new()
                .into_utoipa_app()
                .openapi(ApiDoc::openapi())
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(MAX_JSON_BYTES))
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    AppError::BadRequest(format!("invalid query parameters: {e}")).into()
                }))
                .app_data(web::PathConfig::default().error_handler(|e, _| {
                    AppError::BadRequest(format!("invalid path: {e}")).into()
                }))
                .configure(api::configure)
                .split_for_parts();
        app.service(crate::portal::handlers::memorandum_document)
            .service(crate::portal::handlers::show_page)
            .service(crate::portal::handlers::submit_page)
            .configure(crate::dashboard::handlers::routes)
            .service(web::redirect("/docs", "/docs/"))
            .service(SwaggerUi::new("/docs/{_:.*}").url("/api-docs/openapi.json", doc))
            .default_service(web::to(|| async {
                AppError::NotFound("no such route".into()).error_response_owned()
            }))
            .wrap(from_fn(api::edge::refuse_controls))
            .wrap(DefaultHeaders::new().add(("X-Content-Type-Options", "nosniff")))
            .wrap(from_fn(telemetry::middleware))
    })
    .workers(workers)
    .listen(listener)?
    .run();
    Ok(server)
}

impl AppError {
    fn error_response_owned(self) -> HttpResponse {
        actix_web::ResponseError::error_response(&self)
    }
}

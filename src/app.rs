//! Builds the actix application: routes, middleware, shared state. Used by `main` and by tests.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{from_fn, DefaultHeaders};
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;
use tokio::sync::watch;
use utoipa::OpenApi;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::api::{self, json::MAX_JSON_BYTES, ApiDoc};
use crate::auth::jwt::Keys;
use crate::auth::links::LinkKeys;
use crate::auth::Actor;
use crate::config::Config;
use crate::db::{Db, DbConnection};
use crate::error::{AppError, AppResult};
use crate::files::Files;
use crate::mail::worker::Stop;
use crate::metrics::Metrics;
use crate::telemetry;

/// How long a stopping server lets requests in progress finish.
const SHUTDOWN_SECS: u64 = 20;

/// What every handler can reach. Nothing here is needed by another replica: state lives in the
/// database.
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub keys: Arc<Keys>,
    pub metrics: Arc<Metrics>,
    /// Uploaded documents, sealed (a local directory under DATA_DIR by default, or S3).
    pub files: Arc<Files>,
    /// Signs and checks the links in mail to hospital contacts.
    pub links: Arc<LinkKeys>,
    /// Failed logins per account and per client address (this process only).
    pub throttle: Arc<crate::auth::throttle::LoginThrottle>,
}

impl AppState {
    /// Connects to the database and applies pending migrations.
    pub fn new(config: Config) -> anyhow::Result<Self> {
        let (db, applied) = Db::open(&config.database_url, config.db_pool_size, config.db_timeout)?;
        if !applied.is_empty() {
            tracing::info!(count = applied.len(), "applied migrations");
        }
        let now = config.clock.now();
        db.write_blocking(|c| crate::service::intake::ensure_default_template(c, now))
            .map_err(|e| anyhow::anyhow!("cannot store the default questionnaire: {e}"))?;
        Ok(Self {
            files: Arc::new(Files::open(&config)?),
            links: Arc::new(LinkKeys::new(&config.jwt_secret)),
            keys: Arc::new(Keys::new(&config.jwt_secret, config.access_token_ttl_secs)),
            metrics: Arc::new(Metrics::new()?),
            throttle: Default::default(),
            config: Arc::new(config),
            db,
        })
    }
}

impl AppState {
    pub fn clock(&self) -> &crate::clock::Clock {
        &self.config.clock
    }

    /// What the use cases need besides a connection.
    pub fn ctx(&self) -> crate::service::Ctx {
        crate::service::Ctx {
            config: self.config.clone(),
            links: self.links.clone(),
        }
    }

    /// Authenticates the caller and runs a read on the same connection, in one blocking call.
    pub async fn read_as<T, F>(&self, caller: crate::api::caller::Caller, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConnection, &Actor) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let credential = caller.0;
        let clock = self.clock().clone();
        self.db
            .read(move |conn| {
                let actor = crate::auth::authenticate(conn, &credential, clock.now())?;
                f(conn, &actor)
            })
            .await
    }

    /// Authenticates the caller and runs a command as one transaction on the same connection,
    /// in one blocking call.
    pub async fn write_as<T, F>(&self, caller: crate::api::caller::Caller, f: F) -> AppResult<T>
    where
        F: FnOnce(&mut DbConnection, &Actor) -> AppResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let credential = caller.0;
        let clock = self.clock().clone();
        self.db
            .write(move |conn| {
                let actor = crate::auth::authenticate(conn, &credential, clock.now())?;
                f(conn, &actor)
            })
            .await
    }
}

/// The OpenAPI document, built from the same route table the server uses.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(api::configure)
        .split_for_parts();
    api::doc::complete(&mut doc);
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
            config.mail.concurrency,
        )?),
        config: config.mail.clone(),
        files: Arc::new(Files::open(config)?),
    })
}

/// The app as `serve` runs it: the HTTP server and, unless `MAIL_WORKER=off`, the mail worker
/// (delivery and the reminder/nudge scheduler) in the same process.
pub struct Running {
    pub db: Db,
    pub config: Arc<Config>,
    server: ServerHandle,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
    worker: Option<(watch::Sender<bool>, tokio::task::JoinHandle<()>)>,
}

/// Starts the app on `listener`: connects (migrating first), serves HTTP with `http_workers`
/// threads and starts the mail worker unless `MAIL_WORKER=off`. `serve` and the tests both
/// start the app here. Must be called inside a Tokio runtime.
pub async fn start(
    config: Config,
    listener: TcpListener,
    http_workers: usize,
) -> anyhow::Result<Running> {
    let state = tokio::task::spawn_blocking(move || AppState::new(config)).await??;
    let db = state.db.clone();
    let config = state.config.clone();
    let worker = if config.mail.worker_in_serve {
        let (tx, stop) = Stop::channel();
        let worker = mail_worker(&config, db.clone())?;
        Some((tx, tokio::spawn(worker.run_until(stop))))
    } else {
        tracing::info!("mail worker off (MAIL_WORKER=off): run `engagement-tracker worker`");
        None
    };
    let server = server(state, listener, http_workers)?;
    let handle = server.handle();
    Ok(Running {
        db,
        config,
        server: handle,
        served: tokio::spawn(server),
        worker,
    })
}

impl Running {
    /// Stops gracefully: no new connections or mail are taken, requests in progress are
    /// answered, the mail being sent is finished and the rest of the worker's claim is given
    /// back for the next worker.
    pub async fn stop(self) -> anyhow::Result<()> {
        if let Some((tx, _)) = &self.worker {
            let _ = tx.send(true);
        }
        self.server.stop(true).await;
        if let Some((_, worker)) = self.worker {
            worker.await.context("mail worker")?;
        }
        self.served.await??;
        Ok(())
    }

    /// Runs until SIGTERM or SIGINT, then stops gracefully (or until the server fails).
    pub async fn until_signal(mut self) -> anyhow::Result<()> {
        tokio::select! {
            signal = shutdown_signal() => {
                tracing::info!(signal = signal?, "stopping");
                self.stop().await
            }
            served = &mut self.served => {
                served??;
                anyhow::bail!("the HTTP server stopped by itself")
            }
        }
    }
}

/// Waits for SIGTERM (how service managers and Kubernetes stop a process) or SIGINT (Ctrl-C);
/// returns its name.
pub async fn shutdown_signal() -> anyhow::Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
        tokio::select! {
            _ = term.recv() => Ok("SIGTERM"),
            _ = int.recv() => Ok("SIGINT"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await?;
        Ok("Ctrl-C")
    }
}

/// Binds the routes to `listener`; the returned server runs when awaited. It does not watch
/// signals itself: [`Running`] stops it.
pub fn server(state: AppState, listener: TcpListener, workers: usize) -> std::io::Result<Server> {
    let blocking = blocking_threads(state.config.db_pool_size, workers);
    let data = web::Data::new(state);
    let doc = openapi();
    let server = HttpServer::new(move || {
        let (app, _) =
            App::new()
                .into_utoipa_app()
                .openapi(ApiDoc::openapi())
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(MAX_JSON_BYTES))
                // Handlers read queries with `api::query::Query`, which names the parameter;
                // anything still on `web::Query` answers 422 too.
                .app_data(
                    web::QueryConfig::default()
                        .error_handler(|e, _| AppError::field("query", e.to_string()).into()),
                )
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
            .service(SwaggerUi::new("/docs/{_:.*}").url("/api-docs/openapi.json", doc.clone()))
            .default_service(web::to(|| async {
                AppError::NotFound("no such route".into()).error_response_owned()
            }))
            .wrap(from_fn(crate::edge::controls::refuse_controls))
            .wrap(DefaultHeaders::new().add(("X-Content-Type-Options", "nosniff")))
            .wrap(from_fn(telemetry::middleware))
    })
    .workers(workers)
    .worker_max_blocking_threads(blocking)
    .disable_signals()
    .shutdown_timeout(SHUTDOWN_SECS)
    .listen(listener)?
    .run();
    Ok(server)
}

/// Blocking threads per HTTP worker. Nearly all blocking work holds a database connection, so
/// threads beyond the pool's share only wait for one (actix's default, 512 / workers, let a
/// load burst leave ~200 idle threads and their allocator arenas behind). One spare per worker
/// for work without a connection (password hashing, files).
fn blocking_threads(pool_size: u32, workers: usize) -> usize {
    (pool_size as usize).div_ceil(workers.max(1)) + 1
}

impl AppError {
    fn error_response_owned(self) -> HttpResponse {
        actix_web::ResponseError::error_response(&self)
    }
}

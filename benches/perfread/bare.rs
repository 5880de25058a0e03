//! The benchmarks' bare baseline (`benches/perfread.sh`): actix-web of the same version, and a
//! one-row read by primary key through diesel + r2d2 on the same database, with the same
//! connection setup as the service and no checkout test — what a request costs with nothing of
//! the application around it.
//!
//!   cargo build --release --features bench --bins
//!   DATABASE_URL=… BIND=127.0.0.1:8091 target/release/bare-baseline

use actix_web::{get, web, App, HttpResponse, HttpServer};
use diesel::prelude::*;
use engagement_tracker::db::schema::hospitals;
use engagement_tracker::db::Manager;

type Pool = r2d2::Pool<Manager>;

#[get("/hello")]
async fn hello() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

#[get("/row/{id}")]
async fn row(pool: web::Data<Pool>, id: web::Path<String>) -> actix_web::Result<HttpResponse> {
    let pool = pool.into_inner();
    let id = id.into_inner();
    let found = web::block(move || -> Result<Option<(String, String)>, String> {
        let mut conn = pool.get().map_err(|e| e.to_string())?;
        hospitals::table
            .find(id)
            .select((hospitals::id, hospitals::name))
            .first(&mut *conn)
            .optional()
            .map_err(|e| e.to_string())
    })
    .await?
    .map_err(actix_web::error::ErrorInternalServerError)?;
    Ok(match found {
        Some((id, name)) => HttpResponse::Ok().json(serde_json::json!({"id": id, "name": name})),
        None => HttpResponse::NotFound().finish(),
    })
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "./data/bench.db".into());
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8091".into());
    let size = std::env::var("DB_POOL_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let pool = r2d2::Pool::builder()
        .max_size(size)
        .test_on_check_out(false)
        .build(Manager::new(&url))
        .map_err(std::io::Error::other)?;
    let data = web::Data::new(pool);
    HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .service(hello)
            .service(row)
    })
    .bind(bind)?
    .run()
    .await
}

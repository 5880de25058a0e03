//! The baseline: what actix-web + diesel + r2d2 give with no application around them.
//! `GET /hello` answers a constant; `GET /hospitals/{id}` reads one row by primary key.
//! Settings: `BIND` (127.0.0.1:8090), `DATABASE_URL` (an SQLite path or postgres://…),
//! `WORKERS` (one per CPU), `DB_POOL_SIZE` (10) — the main server's defaults.

use actix_web::{get, web, App, HttpResponse, HttpServer};
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool};
use diesel::sql_types::Text;
use diesel::{PgConnection, SqliteConnection};

#[derive(QueryableByName, serde::Serialize)]
struct Hospital {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    prefecture_code: String,
}

const ONE_ROW_SQLITE: &str = "SELECT id, name, prefecture_code FROM hospitals WHERE id = ?";
const ONE_ROW_PG: &str = "SELECT id, name, prefecture_code FROM hospitals WHERE id = $1";

enum Db {
    Sqlite(Pool<ConnectionManager<SqliteConnection>>),
    Pg(Pool<ConnectionManager<PgConnection>>),
}

impl Db {
    fn one(&self, id: String) -> Result<Option<Hospital>, String> {
        match self {
            Db::Sqlite(p) => {
                let mut c = p.get().map_err(|e| e.to_string())?;
                diesel::sql_query(ONE_ROW_SQLITE)
                    .bind::<Text, _>(id)
                    .get_result(&mut c)
                    .optional()
                    .map_err(|e| e.to_string())
            }
            Db::Pg(p) => {
                let mut c = p.get().map_err(|e| e.to_string())?;
                diesel::sql_query(ONE_ROW_PG)
                    .bind::<Text, _>(id)
                    .get_result(&mut c)
                    .optional()
                    .map_err(|e| e.to_string())
            }
        }
    }
}

#[get("/hello")]
async fn hello() -> &'static str {
    "hello"
}

#[get("/hospitals/{id}")]
async fn hospital(db: web::Data<Db>, id: web::Path<String>) -> HttpResponse {
    let db = db.into_inner();
    match web::block(move || db.one(id.into_inner())).await {
        Ok(Ok(Some(h))) => HttpResponse::Ok().json(h),
        Ok(Ok(None)) => HttpResponse::NotFound().finish(),
        Ok(Err(e)) => HttpResponse::InternalServerError().body(e),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_owned())
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let url = env_or("DATABASE_URL", "data/engagement-tracker.db");
    let size: u32 = env_or("DB_POOL_SIZE", "10").parse().unwrap_or(10);
    let workers: usize = env_or("WORKERS", "0").parse().unwrap_or(0);
    let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Db::Pg(
            Pool::builder()
                .max_size(size)
                .build(ConnectionManager::new(url))
                .map_err(std::io::Error::other)?,
        )
    } else {
        let path = url.strip_prefix("sqlite://").unwrap_or(&url).to_owned();
        Db::Sqlite(
            Pool::builder()
                .max_size(size)
                .build(ConnectionManager::new(path))
                .map_err(std::io::Error::other)?,
        )
    };
    let db = web::Data::new(db);
    let mut server = HttpServer::new(move || App::new().app_data(db.clone()).service(hello).service(hospital));
    if workers > 0 {
        server = server.workers(workers);
    }
    server.bind(env_or("BIND", "127.0.0.1:8090"))?.run().await
}

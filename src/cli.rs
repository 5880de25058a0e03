//! What the command-line subcommands do; `main.rs` only parses arguments.

use std::io::{BufRead, IsTerminal};
use std::net::TcpListener;

use anyhow::{bail, Context};

use crate::app;
use crate::config::Config;
use crate::db::{self, Db};
use crate::domain::access::Role;
use crate::domain::ids::OrganizationId;
use crate::domain::orgs::OrgKind;
use crate::error::AppError;
use crate::mail::worker::Stop;
use crate::service::accounts::{create_org, NewUser, UserDraft};
use crate::telemetry;

pub async fn serve(config: Config, workers: Option<usize>) -> anyhow::Result<()> {
    telemetry::init(&config.log_format);
    let bind = config.bind;
    let backend = config.backend_name();
    let listener =
        TcpListener::bind(bind).with_context(|| format!("cannot listen on {bind} (BIND)"))?;
    let workers =
        workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let running = app::start(config, listener, workers).await?;
    let admins = {
        let db = running.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.pool.get()?;
            anyhow::Ok(db::users::count_active_admins(&mut conn)?)
        })
        .await??
    };
    if admins == 0 {
        eprintln!(
            "\nNo admin user exists yet. Create the first one (you will be asked for a password):\n\n    \
             cargo run -- user create --email you@example.com --org \"Prime Contractor Ltd.\" --role admin\n\n\
             (or `engagement-tracker user create …` with the installed binary; same DATABASE_URL/DATA_DIR)\n"
        );
    }
    tracing::info!(%bind, backend, "serving; API docs at /docs");
    running.until_signal().await?;
    tracing::info!("stopped");
    Ok(())
}

/// Delivers mail from the outbox until SIGTERM or SIGINT (for separate worker processes).
pub async fn worker(config: Config) -> anyhow::Result<()> {
    telemetry::init(&config.log_format);
    let db = open(&config, 2)?;
    let worker = app::mail_worker(&config, db)?;
    let (tx, stop) = Stop::channel();
    let mut running = tokio::spawn(worker.run_until(stop));
    tokio::select! {
        signal = app::shutdown_signal() => {
            tracing::info!(signal = signal?, "stopping");
            let _ = tx.send(true);
            running.await?;
        }
        done = &mut running => done?,
    }
    tracing::info!("stopped");
    Ok(())
}

/// Connects with a small pool, applying pending migrations first.
fn open(config: &Config, pool_size: u32) -> anyhow::Result<Db> {
    Ok(Db::open(&config.database_url, pool_size, config.db_timeout)?.0)
}

pub fn migrate(config: &Config) -> anyhow::Result<()> {
    let (_, applied) = Db::open(&config.database_url, 1, config.db_timeout)?;
    if applied.is_empty() {
        println!("database is up to date ({})", config.backend_name());
    }
    for m in applied {
        println!("applied {m}");
    }
    Ok(())
}

pub fn openapi(output: Option<&std::path::Path>) -> anyhow::Result<()> {
    let json = app::openapi().to_pretty_json()?;
    match output {
        Some(path) => std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => println!("{json}"),
    }
    Ok(())
}

/// Reads a password: asked twice at a terminal, else the first line of standard input.
fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password (at least 12 characters): ")?;
        let second = rpassword::prompt_password("Same password again: ")?;
        if first != second {
            bail!("the two passwords differ");
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }
}

pub struct UserArgs {
    pub email: String,
    pub org: String,
    pub role: Role,
    pub name: Option<String>,
    pub prefecture: Option<String>,
}

/// Creates a user. The organisation is found by id or name; on a database with no
/// organisations at all, the first admin's organisation is created as the prime contractor.
pub fn create_user(config: &Config, args: UserArgs) -> anyhow::Result<()> {
    let db = open(config, 2)?;
    let password = read_password()?;
    let draft = UserDraft::new(NewUser {
        display_name: args.name.clone().unwrap_or_else(|| args.email.clone()),
        email: args.email,
        organization_id: OrganizationId::default(),
        role: args.role,
        prefecture_code: args.prefecture,
        password,
    })
    .map_err(explain)?;
    let org_key = args.org;
    let now = config.clock.now();
    let user = db
        .write_blocking(|conn| {
            let org = match db::orgs::find_by_id_or_name(conn, &org_key)? {
                Some(org) => org,
                None if db::orgs::count(conn)? == 0 && args.role == Role::Admin => {
                    create_org(conn, org_key.trim(), OrgKind::Prime, None, now)?
                }
                None => {
                    return Err(AppError::field(
                        "org",
                        format!("no organisation is named `{org_key}`; create it first with POST /api/v1/organizations"),
                    ))
                }
            };
            UserDraft {
                organization_id: org.id,
                ..draft
            }
            .insert(conn, now)
        })
        .map_err(explain)?;
    println!(
        "created {} ({}) in organisation {}; id {}",
        user.email, user.role, user.organization_id, user.id
    );
    Ok(())
}

fn explain(e: AppError) -> anyhow::Error {
    anyhow::anyhow!("{}", e.problem().detail)
}

/// Imports a selection list from a file; exits non-zero when rows were rejected and nothing was
/// written.
pub fn import(
    config: &Config,
    round: &str,
    file: &std::path::Path,
    opts: crate::service::imports::Options,
    encoding: Option<&str>,
) -> anyhow::Result<()> {
    use crate::service::imports;
    use crate::service::step::Who;
    let encoding = match encoding {
        Some(e) => Some(
            crate::import::Encoding::parse(e)
                .ok_or_else(|| anyhow::anyhow!("--encoding must be utf-8 or shift_jis"))?,
        ),
        None => None,
    };
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let format = crate::import::detect_format(&bytes, file.to_str());
    let db = open(config, 2)?;
    let who = Who {
        kind: "system",
        id: None,
        label: format!("import command ({})", file.display()),
        is_admin: true,
    };
    let now = config.clock.now();
    let report =
        imports::run(&db, &who, round, &bytes, format, encoding, opts, now).map_err(|e| {
            let p = e.problem();
            let rows: Vec<String> = p
                .errors
                .iter()
                .map(|e| format!("  {}: {}", e.field, e.message))
                .collect();
            anyhow::anyhow!(
                "{}\n{}",
                p.detail.lines().next().unwrap_or_default(),
                rows.join("\n")
            )
        })?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!(
        "created {}, updated {}, unchanged {}, rejected {}{}",
        report.created,
        report.updated,
        report.unchanged,
        report.rejected,
        if report.written {
            ""
        } else {
            " (nothing written)"
        }
    );
    Ok(())
}

/// Fills an empty database with demo data and says how to look at it.
pub fn demo_data(config: &Config, hospitals: usize) -> anyhow::Result<()> {
    let db = open(config, 2)?;
    let now = config.clock.now();
    db.write_blocking(|c| crate::service::intake::ensure_default_template(c, now))?;
    let started = std::time::Instant::now();
    let r = crate::service::demo::fill(&db, hospitals, chrono::Utc::now())?;
    println!(
        "round {}: {} hospitals, {} milestones, {} timeline events in {:.1} s ({})\n\n\
         Sign in to /dashboard with an account of your own, e.g.\n    \
         engagement-tracker user create --email viewer@example.com --org \"{}\" --role viewer\n    \
         engagement-tracker user create --email tokyo@example.com --org \"{}\" --role prefecture_viewer --prefecture 13\n    \
         engagement-tracker user create --email admin@example.com --org \"{}\" --role admin",
        r.round,
        r.hospitals,
        r.milestones,
        r.events,
        started.elapsed().as_secs_f64(),
        config.backend_name(),
        r.ministry,
        r.prefecture_org,
        r.prime,
    );
    Ok(())
}

/// Runs the retention purge once and prints its report.
pub async fn purge(config: &Config, dry_run: bool) -> anyhow::Result<()> {
    let db = open(config, 2)?;
    let files = crate::files::Files::open(config)?;
    let report = crate::service::retention::purge(
        &db,
        &files,
        config.clock.now(),
        config.retention_days,
        dry_run,
    )
    .await
    .map_err(|e| anyhow::anyhow!(e.problem().detail))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if report.objects_left > 0 {
        bail!(
            "{} stored objects could not be deleted; run `engagement-tracker files gc` later",
            report.objects_left
        );
    }
    Ok(())
}

/// `files gc`: removes objects no document refers to, older than the grace period.
pub async fn files_gc(config: &Config, grace_minutes: u64, dry_run: bool) -> anyhow::Result<()> {
    let db = open(config, 2)?;
    let files = crate::files::Files::open(config)?;
    let grace = std::time::Duration::from_secs(grace_minutes.saturating_mul(60));
    let r = crate::files::gc::gc(&files, &db, grace, dry_run).await?;
    for key in &r.removed {
        println!("{} {key}", if dry_run { "would remove" } else { "removed" });
    }
    eprintln!(
        "{}: {} objects, {} referenced, {} unreferenced but younger than {grace_minutes} min (kept), {} not ours (kept), {} {}",
        files.location().describe(),
        r.objects,
        r.referenced,
        r.young,
        r.foreign,
        r.removed.len(),
        if dry_run { "would be removed" } else { "removed" }
    );
    Ok(())
}

/// `files rewrap`: every document's data key under the newest master key; legacy plaintext
/// objects sealed.
pub async fn files_rewrap(config: &Config) -> anyhow::Result<()> {
    let db = open(config, 2)?;
    let files = crate::files::Files::open(config)?;
    let r = crate::files::gc::rewrap(&files, &db).await?;
    eprintln!(
        "newest key {}: {} rewrapped, {} legacy plaintext sealed, {} already current, {} failed",
        files.keyring().newest().id,
        r.rewrapped,
        r.sealed_legacy,
        r.current,
        r.failed.len()
    );
    if !r.failed.is_empty() {
        bail!(
            "some documents still need an older key:\n  {}",
            r.failed.join("\n  ")
        );
    }
    Ok(())
}

pub async fn backup(config: &Config, to: &std::path::Path) -> anyhow::Result<()> {
    let m = crate::files::backup::backup(config, to).await?;
    println!("{}", serde_json::to_string_pretty(&m)?);
    eprintln!(
        "backed up the database, {} documents in {} objects to {}; the master keys ({}) are NOT in it: keep them elsewhere",
        m.documents,
        m.objects,
        to.display(),
        if m.key_ids.is_empty() { "none needed".to_owned() } else { m.key_ids.join(", ") }
    );
    Ok(())
}

pub async fn restore(config: &Config, from: &std::path::Path) -> anyhow::Result<()> {
    let r = crate::files::backup::restore(config, from).await?;
    println!("{}", serde_json::to_string_pretty(&r)?);
    eprintln!(
        "restored into {}: {} documents in {} objects, every one read back and checked",
        config.data_dir.display(),
        r.documents,
        r.objects
    );
    Ok(())
}

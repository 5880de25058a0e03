use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use engagement_tracker::api::imports;
use engagement_tracker::cli::{self, UserArgs};
use engagement_tracker::config::Config;
use engagement_tracker::domain::access::Role;

/// Tracks hospitals of MHLW's hospital-cybersecurity programme from first contact to a finished
/// engagement. Settings come from environment variables (and `.env`); see README.md.
#[derive(Parser)]
#[command(name = "engagement-tracker", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending migrations and serve the API, Swagger UI (/docs) and health endpoints.
    Serve {
        /// HTTP worker threads (default: one per CPU).
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Deliver mail from the outbox (when `serve` runs with MAIL_WORKER=off, or for more
    /// workers beside it; several may share one PostgreSQL).
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document (or write it to a file).
    Openapi {
        /// Write here instead of standard output, e.g. openapi/openapi.json.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Import a prefecture's selection list (CSV or XLSX), as POST /api/v1/imports does.
    /// Prints the row-by-row report as JSON.
    Import {
        /// The round, by id or name (e.g. FY2025).
        #[arg(long)]
        round: String,
        /// The list: .csv (UTF-8, UTF-8 with BOM, or Shift_JIS/CP932) or .xlsx.
        file: PathBuf,
        /// Report without writing anything.
        #[arg(long)]
        dry_run: bool,
        /// Write the good rows even if others are rejected (default: all or nothing).
        #[arg(long)]
        partial: bool,
        /// utf-8 or shift_jis; detected when absent.
        #[arg(long)]
        encoding: Option<String>,
        /// The list is from a second recruitment call.
        #[arg(long)]
        secondary: bool,
    },
    /// Fill an empty database with a realistic demo round (refuses one that holds hospitals).
    DemoData {
        /// How many hospitals.
        #[arg(long, default_value_t = 1000)]
        hospitals: usize,
    },
    /// Purge the confidential material of engagements closed more than RETENTION_DAYS ago
    /// (documents' bytes, questionnaire answers, findings, notes); the worker also runs it daily.
    /// Prints what was purged as JSON.
    Purge {
        /// Only list what would be purged.
        #[arg(long)]
        dry_run: bool,
    },
    /// Manage user accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Maintain the document store.
    Files {
        #[command(subcommand)]
        command: FilesCommand,
    },
    /// Write a consistent backup of the embedded SQLite database and the (sealed) documents
    /// into a new directory. Never contains the master keys. Not for PostgreSQL (use pg_dump).
    Backup {
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a backup into an empty DATA_DIR, with the master keys it names supplied
    /// (FILES_KEY or FILES_KEY_FILE); every document is read back and checked.
    Restore {
        #[arg(long)]
        from: PathBuf,
    },
}

#[derive(Subcommand)]
enum FilesCommand {
    /// Remove objects no document refers to (e.g. an upload whose step was refused). Safe
    /// while the service runs: objects younger than the grace period are kept.
    Gc {
        /// Keep unreferenced objects younger than this many minutes.
        #[arg(long, default_value_t = 60)]
        grace_minutes: u64,
        /// List what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Wrap every document's data key under the newest master key (the first of FILES_KEY)
    /// and seal legacy plaintext objects; older keys can be removed afterwards.
    Rewrap,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user. The password is asked for at a terminal, or read from the first line of
    /// standard input.
    Create {
        #[arg(long)]
        email: String,
        /// Organisation id or name. On an empty database the first admin's organisation is
        /// created as the prime contractor.
        #[arg(long)]
        org: String,
        /// admin, coordinator, viewer or prefecture_viewer.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Display name (default: the email).
        #[arg(long)]
        name: Option<String>,
        /// For prefecture_viewer: JIS code or name of the prefecture.
        #[arg(long)]
        prefecture: Option<String>,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "one of admin, coordinator, viewer, prefecture_viewer".into())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before anything is created: the database, mail with live links, documents and the key
    // are for this user only (files 0600, directories 0700), whatever the caller's umask. The
    // OpenAPI document is public and keeps the caller's.
    #[cfg(unix)]
    if !matches!(cli.command, Command::Openapi { .. }) {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
    let result = match Config::from_env() {
        Err(e) => Err(e.context("invalid configuration")),
        Ok(config) => match cli.command {
            Command::Serve { workers } => cli::serve(config, workers).await,
            Command::Migrate => cli::migrate(&config),
            Command::Worker => cli::worker(config).await,
            Command::Openapi { output } => cli::openapi(output.as_deref()),
            Command::Import {
                round,
                file,
                dry_run,
                partial,
                encoding,
                secondary,
            } => cli::import(
                &config,
                &round,
                &file,
                imports::Options {
                    dry_run,
                    partial,
                    secondary,
                },
                encoding.as_deref(),
            ),
            Command::DemoData { hospitals } => cli::demo_data(&config, hospitals),
            Command::Purge { dry_run } => cli::purge(&config, dry_run).await,
            Command::Files {
                command:
                    FilesCommand::Gc {
                        grace_minutes,
                        dry_run,
                    },
            } => cli::files_gc(&config, grace_minutes, dry_run).await,
            Command::Files {
                command: FilesCommand::Rewrap,
            } => cli::files_rewrap(&config).await,
            Command::Backup { to } => cli::backup(&config, &to).await,
            Command::Restore { from } => cli::restore(&config, &from).await,
            Command::User {
                command:
                    UserCommand::Create {
                        email,
                        org,
                        role,
                        name,
                        prefecture,
                    },
            } => cli::create_user(
                &config,
                UserArgs {
                    email,
                    org,
                    role,
                    name,
                    prefecture,
                },
            ),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

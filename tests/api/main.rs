//! Black-box tests: each starts the real app on a random port over a fresh database (an SQLite
//! file, or a new PostgreSQL database when TEST_DATABASE_URL is set) and talks HTTP to it.

mod helpers;

mod accounts;
mod auth;
mod binary;
mod bulk;
mod channels;
mod cli;
mod conformance;
mod contacts;
mod contention;
mod dashboard;
mod dashboard_web;
mod engagements;
mod files;
mod files_backup;
mod hardening;
mod imports;
mod input;
mod mail;
mod openapi;
mod ops;
mod pipeline;
mod portal;
mod questionnaire;
mod replicas;
mod resilience;
mod retention;
mod shared_hospital;
mod slots;
mod streaming;
mod uploads;

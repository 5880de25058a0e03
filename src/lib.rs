//! engagement-tracker: carries hospitals selected under MHLW's hospital-cybersecurity programme
//! from first contact to a finished engagement. See README.md and DESIGN notes.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod domain;
pub mod edge;
pub mod error;
pub mod files;
pub mod import;
pub mod mail;
pub mod metrics;
pub mod portal;
pub mod service;
pub mod telemetry;

//! The hospital-facing pages behind emailed links: plain server-rendered Japanese HTML, fast on
//! a phone, no JavaScript, no external resources.

pub mod actions;
pub mod handlers;
pub mod pages;
pub mod questionnaire;

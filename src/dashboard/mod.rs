//! The web dashboard (`/dashboard`) for the ministry, the prefectures and the vendor: Japanese
//! pages rendered on the server, SVG charts, no JavaScript and nothing loaded from elsewhere;
//! sign-in with email and password into a session kept in the database. It prints on A4
//! landscape for meetings.

pub mod charts;
pub mod handlers;
pub mod pages;
pub mod session;

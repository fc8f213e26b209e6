//! The Latchkey server: accounts, locks, members, invitations, guest keys, SMS, the activity
//! log, the HTTP API and the web app, and the gateway that links locks over MQTT.
//!
//! Dependencies point inward: `api` and `web` call `domain`; `domain` calls `store` and the
//! `gateway` trait; `store` decides nothing. See ARCHITECTURE.md.

pub mod api;
pub mod app;
pub mod config;
pub mod domain;
pub mod gateway;
pub mod metrics;
pub mod outbound;
pub mod sms;
pub mod store;
pub mod web;

pub use app::{Parts, Server};
pub use config::{Config, ServeArgs};

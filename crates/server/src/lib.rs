//! The Latchkey server: accounts, locks, members, invitations, guest keys, SMS, the activity
//! log, the HTTP API and the web app, and the gateway that links locks over MQTT.
//!
//! Dependencies point inward: `api` and `web` call `domain`; `domain` calls `store` and reaches
//! locks through its `Gateway` trait, which `gateway` implements; `store` decides nothing. Time
//! and randomness come from `env`. See ARCHITECTURE.md.

pub mod api;
pub mod app;
pub mod config;
pub mod domain;
pub mod env;
pub mod gateway;
pub mod metrics;
pub mod outbound;
pub mod sms;
pub mod store;
pub mod web;
pub mod webhooks;

pub use app::{Parts, Server};
pub use config::{Config, ServeArgs};

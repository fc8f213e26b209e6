//! The server's integration tests, one binary (one link instead of one per file): each file is
//! a module. `kit` starts the real server in-process with a test clock and a fake lock gateway
//! and drives it through the typed client; `device_kit` runs real servers with real brokers and
//! in-process virtual locks; `pg` makes a fresh PostgreSQL database per test.
//!
//! - `api_flows`, `api_parity`, `authz_matrix`, `validation`, `twilio`, `web_pages`, `openapi`:
//!   the HTTP API, its authorization matrix and validation, the SMS provider, the web app's
//!   checks, the committed OpenAPI description;
//! - `store`: the store on SQLite and PostgreSQL;
//! - `device_link`, `device_flows`, `broker_auth`, `multi_instance`, `pairing_neighbours`,
//!   `link_secrecy`: the device link end to end;
//! - `outbound`: the outgoing HTTP client (calendar feeds, webhooks) against local servers;
//! - `browser`: the web app in headless Chromium.

mod pg;
#[macro_use]
mod kit;
#[macro_use]
mod device_kit;

mod api_flows;
mod api_parity;
mod authz_matrix;
mod bolt_state;
mod broker_auth;
mod broker_dynsec;
mod broker_rules;
mod browser;
mod calendars;
mod command_delivery;
mod concurrent_guest_keys;
mod device_flows;
mod device_link;
mod embedded_tls;
mod external_broker;
mod idempotency;
mod link_secrecy;
mod lock_capacity;
mod multi_instance;
mod offline_keys;
mod openapi;
mod outbound;
mod pairing_convergence;
mod pairing_neighbours;
mod pin_choice;
mod store;
mod twilio;
mod validation;
mod web_details;
mod web_i18n;
mod web_pages;
mod web_security;
mod webhooks;

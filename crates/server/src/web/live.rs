//! Live pages: a server-sent event stream per lock that says "changed" when the lock's online
//! state, bolt, version or sync state (a new member, key or change, and the lock taking it) or
//! activity log changes; `static/app.js` then fetches the page again and swaps its live parts
//! (`data-live`). The lock's main screen, User Management, a member's page and the activity
//! log (with its filters, since the page fetches its own address) listen to it. Without JavaScript (or `EventSource`) the pages are
//! the same, reloaded by hand or by the script's fallback timer.
//!
//! The stream reads the database (the one truth when several servers share it) every
//! `EVERY`, ends after `LIFETIME` (the browser reconnects by itself) and at shutdown, and
//! stops as soon as the caller may no longer see the lock.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use tokio_stream::wrappers::ReceiverStream;

use super::page::{OrPage, SignedIn};
use crate::app::AppState;

const EVERY: Duration = Duration::from_secs(1);
const LIFETIME: Duration = Duration::from_secs(300);

pub(super) async fn lock_stream(
    me: SignedIn,
    State(s): State<AppState>,
    Path(lock_id): Path<String>,
) -> Result<axum::response::Response, axum::response::Response> {
    let first = me.domain.lock_pulse(&me.caller, &lock_id).await.or_page(&me)?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let domain = me.domain.clone();
    let caller = me.caller.clone();
    let mut shutdown = s.shutdown.clone();
    tokio::spawn(async move {
        let mut last = first;
        let end = tokio::time::Instant::now() + LIFETIME;
        // The first event tells the page the stream is up (it stops its fallback timer). Events
        // need data: a browser drops an event whose data is empty.
        if tx
            .send(Ok(Event::default().event("ready").data("ready")))
            .await
            .is_err()
        {
            return;
        }
        loop {
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
                _ = tx.closed() => return,
            }
            if tokio::time::Instant::now() >= end {
                return;
            }
            let Ok(now) = domain.lock_pulse(&caller, &lock_id).await else {
                return;
            };
            if now != last {
                last = now;
                if tx
                    .send(Ok(Event::default().event("changed").data("changed")))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    let stream: ReceiverStream<Result<Event, Infallible>> = ReceiverStream::new(rx);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

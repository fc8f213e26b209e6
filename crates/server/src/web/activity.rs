//! A lock's activity log, for its Admins: filters (a person or key, a kind, a day) as GET
//! query parameters, so a filtered view is a link; live like the lock's main screen.

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use serde::Deserialize;

use super::i18n::Tr;
use super::page::{OrPage, PageResult, SignedIn, form_failure};
use super::views::{ActivityPage, Choice, EventItem};
use crate::api;
use crate::domain::Error;
use crate::domain::access::display_name;
use crate::domain::events::EventQuery;

/// Events per page.
const PAGE: i64 = 50;

/// The page's query: the filters and the cursor of older entries.
#[derive(Deserialize, Default)]
pub(super) struct ActivityQuery {
    #[serde(default)]
    who: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    day: String,
    #[serde(default)]
    before: Option<String>,
}

impl ActivityQuery {
    /// The filters as a query string (for the "Older" link).
    fn filters(&self) -> String {
        let enc = super::sign_in::url_encode;
        format!("who={}&kind={}&day={}", enc(&self.who), enc(&self.kind), enc(&self.day))
    }
}

pub(super) async fn activity_page(
    me: SignedIn,
    Path(lock_id): Path<String>,
    Query(q): Query<ActivityQuery>,
) -> PageResult {
    let admin = me.domain.lock_as_admin(&me.caller, &lock_id).await.or_page(&me)?;
    let lock = admin.lock().clone();
    let query = EventQuery {
        who: q.who.clone(),
        kind: q.kind.clone(),
        day: q.day.clone(),
    };
    let (events, problem) = match me
        .domain
        .events_filtered(&me.caller, &lock_id, &query, Some(PAGE), q.before.as_deref())
        .await
    {
        Ok(events) => (events, String::new()),
        // A filter that does not parse (a hand-edited link): said above an empty list.
        Err(e @ Error::Invalid(_)) => (Vec::new(), form_failure_text(e, me.tr)),
        Err(e) => return Err(me.error_page(e)),
    };
    let older = if events.len() as i64 == PAGE {
        events.last().map(|e| e.id.clone()).unwrap_or_default()
    } else {
        String::new()
    };
    // Whom the log can be narrowed to: the members, then the guest keys, by name.
    let (members, _) = me.domain.members(&me.caller, &lock_id).await.or_page(&me)?;
    let (keys, _) = me.domain.guest_keys(&me.caller, &lock_id).await.or_page(&me)?;
    let mut people: Vec<Choice> = members
        .iter()
        .map(|m| Choice::new(&m.account_id, &display_name(&m.name, &m.phone), &q.who))
        .collect();
    people.extend(
        keys.iter()
            .map(|k| Choice::new(&k.id, &me.tr.t1("activity-guest-key", "name", &k.name), &q.who)),
    );
    let kinds = [
        ("", "activity-kind-all"),
        ("opened", "activity-kind-opened"),
        ("refused", "activity-kind-refused"),
        ("changes", "activity-kind-changes"),
    ]
    .iter()
    .map(|(v, id)| Choice::new(v, &me.tr.t(id), &q.kind))
    .collect();
    let filtered = !(q.who.is_empty() && q.kind.is_empty() && q.day.is_empty());
    Ok(me.render(
        StatusCode::OK,
        ActivityPage {
            c: me.common_with_problem(problem),
            lock_id: lock.id.clone(),
            lock_name: lock.name.clone(),
            time_zone: lock.time_zone.as_str().to_string(),
            events: events
                .iter()
                .map(|e| EventItem::new(&api::event_wire(e), e.at, &lock.time_zone, me.tr))
                .collect(),
            older: if older.is_empty() {
                String::new()
            } else {
                format!("{}&before={}", q.filters(), super::sign_in::url_encode(&older))
            },
            people,
            kinds,
            day: q.day.clone(),
            filtered,
        },
    ))
}

fn form_failure_text(e: Error, tr: Tr) -> String {
    let (errors, problem) = form_failure(e, tr);
    if problem.is_empty() {
        errors.first().to_string()
    } else {
        problem
    }
}

//! What each client command does: resolve the session and the lock, make the API call, print a
//! table or the API's JSON.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use latchkey_client::model::{
    AccessLevel, CreateGuestKey, CreateInvitation, GuestKey, GuestKeyStatus, Lock, SmsState, SyncState,
};
use latchkey_client::{Client, Error as ApiError};

use super::session::{self, Session};
use super::table::{Table, clean};
use super::times::{self, local_minutes};
use super::{
    AddCalendarArgs, CalendarArgs, CalendarCommand, CalendarRefArgs, ClientCommand, Common, CreateKeyArgs,
    ExtendKeyArgs, Fail, GuestKeyArgs, GuestKeyCommand, InviteArgs, LockArgs, LoginArgs, PRECAUTIONS, RevokeKeyArgs,
    exit,
};

/// How long the client waits to connect, and for a whole answer (a remote unlock waits for the
/// lock, which the server bounds itself).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn dispatch(cmd: ClientCommand) -> Result<(), Fail> {
    match cmd {
        ClientCommand::Login(args) => login(args).await,
        ClientCommand::Logout(common) => logout(common).await,
        ClientCommand::Locks(common) => locks(common).await,
        ClientCommand::Members(args) => members(args).await,
        ClientCommand::Invite(args) => invite(args).await,
        ClientCommand::GuestKey(GuestKeyArgs { command }) => match command {
            GuestKeyCommand::Create(args) => create_key(args).await,
            GuestKeyCommand::List(args) => list_keys(args).await,
            GuestKeyCommand::Revoke(args) => revoke_key(args).await,
            GuestKeyCommand::Extend(args) => extend_key(args).await,
            GuestKeyCommand::Resend(args) => resend_key(args).await,
        },
        ClientCommand::Calendar(CalendarArgs { command }) => match command {
            CalendarCommand::Add(args) => add_calendar(args).await,
            CalendarCommand::List(args) => list_calendars(args).await,
            CalendarCommand::Sync(args) => sync_calendar(args).await,
            CalendarCommand::Remove(args) => remove_calendar(args).await,
        },
        ClientCommand::Unlock(args) => unlock(args).await,
        ClientCommand::Events(args) => super::events::run(args).await,
    }
}

// ------------------------------------------------------------------------------ the session

/// A signed-in client for one command.
pub struct Ctx {
    pub client: Client,
    pub server: String,
    pub json: bool,
}

fn usage(message: impl Into<String>) -> Fail {
    Fail::new(exit::USAGE, message)
}

fn new_client(server: &str) -> Client {
    Client::with_timeouts(server, CONNECT_TIMEOUT, REQUEST_TIMEOUT)
}

/// The session to use: the stored one, if it belongs to the server asked for (`--server` or
/// `LATCHKEY_SERVER`, else the stored one's).
pub fn connect(common: &Common) -> Result<Ctx, Fail> {
    let dir = session::config_dir().map_err(usage)?;
    let stored = session::load(&dir).map_err(|e| Fail::new(exit::NOT_SIGNED_IN, e))?;
    let asked = common
        .server
        .as_deref()
        .map(session::normalize_server)
        .transpose()
        .map_err(usage)?;
    let Some(stored) = stored else {
        let to = asked.map(|s| format!(" to {s}")).unwrap_or_default();
        return Err(Fail::new(
            exit::NOT_SIGNED_IN,
            format!("not signed in{to}: run `latchkey login --server URL --phone PHONE` first"),
        ));
    };
    if let Some(asked) = asked
        && asked != stored.server
    {
        // A token is never sent to a server other than the one that issued it.
        return Err(Fail::new(
            exit::NOT_SIGNED_IN,
            format!(
                "not signed in to {asked} (the stored session is for {}): run `latchkey login --server {asked} --phone PHONE`",
                stored.server
            ),
        ));
    }
    Ok(Ctx {
        client: new_client(&stored.server).with_token(stored.token),
        server: stored.server,
        json: common.json,
    })
}

// ------------------------------------------------------------------------------ errors

/// What a failed call means for the person at the terminal, with the exit code.
pub fn api_fail(e: ApiError, server: &str) -> Fail {
    match e {
        ApiError::Status { status, .. } if status.as_u16() == 401 => Fail::new(
            exit::NOT_SIGNED_IN,
            format!("{server} no longer accepts this session (signed out or expired): run `latchkey login` again"),
        ),
        ApiError::Status {
            status,
            problem,
            retry_after,
        } => {
            let mut text = match &problem {
                Some(p) if !p.errors.is_empty() => format!("{} (HTTP {})", clean(&p.title), status.as_u16()),
                Some(p) if !p.detail.is_empty() => format!("{} (HTTP {})", clean(&p.detail), status.as_u16()),
                Some(p) => format!("{} (HTTP {})", clean(&p.title), status.as_u16()),
                None => format!("the server answered HTTP {status}"),
            };
            if let Some(p) = &problem {
                for f in &p.errors {
                    let flag = flag_for(&f.field).map(|fl| format!(" ({fl})")).unwrap_or_default();
                    text.push_str(&format!("\n  {}{flag}: {}", clean(&f.field), clean(&f.message)));
                }
            }
            if let Some(s) = retry_after {
                text.push_str(&format!("\n  try again in {s} s"));
            }
            Fail::new(exit::REFUSED, text)
        }
        ApiError::Transport(e) => {
            let mut text = format!("cannot reach {server}: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(&format!(": {s}"));
                source = s.source();
            }
            Fail::new(exit::UNREACHABLE, text)
        }
        ApiError::Decode(e) => Fail::new(
            exit::REFUSED,
            format!("{server} answered something this client does not understand: {e}"),
        ),
    }
}

/// The option of this CLI that carries an API field, to name it in errors.
fn flag_for(field: &str) -> Option<&'static str> {
    Some(match field {
        "starts_at" => "--start",
        "ends_at" => "--end",
        "name" => "--name",
        "access_level" => "--level",
        "precautions_accepted" => "--accept-precautions",
        f if f.starts_with("schedule") => "--schedule",
        _ => return None,
    })
}

// ------------------------------------------------------------------------------ output

/// Writes to stdout; a reader that went away (`| head`) ends the command quietly.
pub fn emit(text: &str) -> Result<(), Fail> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Fail::new(exit::OK, "")),
        Err(e) => Err(Fail::new(exit::REFUSED, format!("cannot write to stdout: {e}"))),
    }
}

/// The API's answer as the server sent it, with a final newline.
pub fn emit_json(text: &str) -> Result<(), Fail> {
    if text.ends_with('\n') {
        emit(text)
    } else {
        emit(&format!("{text}\n"))
    }
}

fn level_name(l: AccessLevel) -> &'static str {
    match l {
        AccessLevel::Admin => "admin",
        AccessLevel::Family => "family",
        AccessLevel::RecurringGuest => "recurring guest",
    }
}

fn sync_name(s: SyncState) -> &'static str {
    match s {
        SyncState::Pending => "pending",
        SyncState::Synced => "synced",
    }
}

fn key_status_name(s: GuestKeyStatus) -> &'static str {
    match s {
        GuestKeyStatus::Scheduled => "scheduled",
        GuestKeyStatus::Active => "active",
        GuestKeyStatus::Used => "used",
        GuestKeyStatus::Expired => "expired",
        GuestKeyStatus::Revoked => "revoked",
    }
}

fn sms_name(s: SmsState) -> &'static str {
    match s {
        SmsState::None => "-",
        SmsState::Queued => "queued",
        SmsState::Sent => "sent",
        SmsState::Failing => "failing",
    }
}

fn or_dash(s: &str) -> String {
    if s.trim().is_empty() { "-".into() } else { s.to_string() }
}

// ------------------------------------------------------------------------------ locks by name

/// The lock `arg` names: a lock id, else a lock name (any case) that matches exactly one of
/// the caller's locks. Unknown and ambiguous names are errors listing the choices.
pub async fn resolve_lock(ctx: &Ctx, arg: &str) -> Result<Lock, Fail> {
    let locks = ctx.client.locks().await.map_err(|e| api_fail(e, &ctx.server))?;
    pick_lock(locks, arg)
}

fn pick_lock(locks: Vec<Lock>, arg: &str) -> Result<Lock, Fail> {
    if let Some(l) = locks.iter().find(|l| l.id == arg) {
        return Ok(l.clone());
    }
    let want = arg.trim().to_lowercase();
    let mut found: Vec<Lock> = locks
        .iter()
        .filter(|l| l.name.trim().to_lowercase() == want)
        .cloned()
        .collect();
    let list = |ls: &[Lock]| -> String {
        let mut t = Table::new(&["NAME", "ID", "ACCESS"]);
        for l in ls {
            t.row(vec![l.name.clone(), l.id.clone(), level_name(l.my_access_level).into()]);
        }
        t.render().lines().map(|l| format!("\n  {l}")).collect::<String>()
    };
    match found.len() {
        1 => Ok(found.remove(0)),
        0 if locks.is_empty() => Err(Fail::new(
            exit::REFUSED,
            format!("no lock '{}': you are a member of no lock yet", clean(arg)),
        )),
        0 => Err(Fail::new(
            exit::REFUSED,
            format!(
                "no lock with the id or name '{}'; your locks:{}",
                clean(arg),
                list(&locks)
            ),
        )),
        n => Err(Fail::new(
            exit::REFUSED,
            format!(
                "'{}' names {n} of your locks; give its id instead:{}",
                clean(arg),
                list(&found)
            ),
        )),
    }
}

// ------------------------------------------------------------------------------ login, logout

fn read_line(prompt: Option<&str>) -> Result<Option<String>, Fail> {
    if let Some(p) = prompt {
        eprint!("{p}");
        let _ = std::io::stderr().flush();
    }
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) => Ok(None),
        Ok(_) => Ok(Some(line.trim().to_string())),
        Err(e) => Err(usage(format!("cannot read standard input: {e}"))),
    }
}

async fn login(args: LoginArgs) -> Result<(), Fail> {
    let dir = session::config_dir().map_err(usage)?;
    let stored = match session::load(&dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("warning: {e}; it will be replaced");
            None
        }
    };
    let server = match (&args.common.server, &stored) {
        (Some(s), _) => session::normalize_server(s).map_err(usage)?,
        (None, Some(s)) => s.server.clone(),
        (None, None) => return Err(usage("give the server: --server URL (or set LATCHKEY_SERVER)")),
    };
    let client = new_client(&server);
    client
        .request_otp(&args.phone)
        .await
        .map_err(|e| api_fail(e, &server))?;
    let interactive = std::io::stdin().is_terminal();
    eprintln!("A sign-in code is on its way to {} by SMS.", clean(&args.phone));
    let mut tries = 0;
    let created = loop {
        tries += 1;
        let prompt = interactive.then_some("Code from the SMS: ");
        let code = read_line(prompt)?
            .map(|c| {
                c.chars()
                    .filter(|c| !c.is_whitespace() && *c != '-')
                    .collect::<String>()
            })
            .filter(|c| !c.is_empty())
            .ok_or_else(|| usage("no sign-in code: type it, or give it on standard input"))?;
        match client.create_session_with_json(&args.phone, &code).await {
            Ok(created) => break created,
            Err(ApiError::Status { status, .. }) if status.as_u16() == 401 => {
                if interactive && tries < 3 {
                    eprintln!("That code is wrong, used or expired; try again.");
                    continue;
                }
                return Err(Fail::new(
                    exit::REFUSED,
                    "the sign-in code is wrong, used or expired: run `latchkey login` again for a new one",
                ));
            }
            Err(e) => return Err(api_fail(e, &server)),
        }
    };
    let account = created.value.account;
    let path = session::save(
        &dir,
        &Session {
            server: server.clone(),
            token: created.value.token,
            account_id: account.id.clone(),
            phone: account.phone.clone(),
        },
    )
    .map_err(|e| Fail::new(exit::REFUSED, e))?;
    // The session this one replaces would otherwise stay valid on its server: end it.
    if let Some(old) = stored {
        let _ = new_client(&old.server).with_token(old.token).sign_out().await;
    }
    if args.common.json {
        // The answer's `account` (in the model the server writes it with); the token stays in
        // the session file.
        return emit_json(&serde_json::to_string(&account).unwrap_or_default());
    }
    let who = if account.name.trim().is_empty() {
        account.phone.clone()
    } else {
        format!("{} ({})", account.name, account.phone)
    };
    emit(&format!(
        "Signed in to {server} as {}. The session is kept in {}.\n",
        clean(&who),
        path.display()
    ))
}

async fn logout(common: Common) -> Result<(), Fail> {
    let dir = session::config_dir().map_err(usage)?;
    let path: PathBuf = session::file_in(&dir);
    let Some(stored) = session::load(&dir).map_err(|e| Fail::new(exit::REFUSED, e))? else {
        return emit("Not signed in; nothing to do.\n");
    };
    if let Some(asked) = &common.server {
        let asked = session::normalize_server(asked).map_err(usage)?;
        if asked != stored.server {
            return Err(Fail::new(
                exit::NOT_SIGNED_IN,
                format!("not signed in to {asked} (the stored session is for {})", stored.server),
            ));
        }
    }
    let client = new_client(&stored.server).with_token(&stored.token);
    match client.sign_out().await {
        Ok(()) => {}
        // Already ended on the server: forgetting it here is all that is left.
        Err(ApiError::Status { status, .. }) if status.as_u16() == 401 => {}
        Err(e) => {
            let mut f = api_fail(e, &stored.server);
            f.message.push_str(&format!(
                "\nthe session is kept so that you can try again; delete {} to forget it without signing out",
                path.display()
            ));
            return Err(f);
        }
    }
    session::remove(&dir).map_err(|e| Fail::new(exit::REFUSED, e))?;
    if common.json {
        return Ok(());
    }
    emit(&format!("Signed out of {}.\n", stored.server))
}

// ------------------------------------------------------------------------------ locks, members

async fn locks(common: Common) -> Result<(), Fail> {
    let ctx = connect(&common)?;
    let answer = ctx
        .client
        .locks_with_json()
        .await
        .map_err(|e| api_fail(e, &ctx.server))?;
    if ctx.json {
        return emit_json(&answer.text);
    }
    if answer.value.is_empty() {
        return emit("You are a member of no lock yet: pair one in the web app, or accept an invitation there.\n");
    }
    let mut t = Table::new(&[
        "NAME",
        "ACCESS",
        "ONLINE",
        "BOLT",
        "SYNC",
        "TIME ZONE",
        "LAST SEEN (lock time)",
        "ID",
    ]);
    for l in &answer.value {
        let tz = times::zone(&l.time_zone);
        t.row(vec![
            l.name.clone(),
            level_name(l.my_access_level).into(),
            if l.online { "online" } else { "offline" }.into(),
            l.bolt.clone().unwrap_or_else(|| "-".into()),
            sync_name(l.sync).into(),
            l.time_zone.clone(),
            l.last_seen_at
                .as_deref()
                .map(|at| local_minutes(at, &tz))
                .unwrap_or_else(|| "-".into()),
            l.id.clone(),
        ]);
    }
    emit(&t.render())
}

async fn members(args: LockArgs) -> Result<(), Fail> {
    let ctx = connect(&args.common)?;
    let lock = resolve_lock(&ctx, &args.lock).await?;
    let answer = ctx
        .client
        .members_with_json(&lock.id)
        .await
        .map_err(|e| api_fail(e, &ctx.server))?;
    if ctx.json {
        return emit_json(&answer.text);
    }
    let tz = times::zone(&lock.time_zone);
    let mut t = Table::new(&[
        "NAME",
        "PHONE",
        "ACCESS",
        "SCHEDULE",
        "PIN",
        "SYNC",
        &format!("ADDED ({})", lock.time_zone),
        "ACCOUNT",
    ]);
    for m in &answer.value {
        t.row(vec![
            or_dash(&m.name),
            m.phone.clone(),
            level_name(m.access_level).into(),
            m.schedule
                .as_ref()
                .map(super::schedule::format)
                .unwrap_or_else(|| "any time".into()),
            if m.has_pin { "yes" } else { "no" }.into(),
            sync_name(m.sync).into(),
            local_minutes(&m.added_at, &tz),
            m.account_id.clone(),
        ]);
    }
    emit(&t.render())
}

async fn invite(args: InviteArgs) -> Result<(), Fail> {
    let ctx = connect(&args.common)?;
    let lock = resolve_lock(&ctx, &args.lock).await?;
    let body = CreateInvitation {
        name: None,
        phone: args.phone.clone(),
        access_level: args.level.into(),
        schedule: args.schedule,
    };
    let answer = ctx
        .client
        .invite_with_json(&lock.id, &body)
        .await
        .map_err(|e| api_fail(e, &ctx.server))?;
    if ctx.json {
        return emit_json(&answer.text);
    }
    let inv = &answer.value;
    let tz = times::zone(&lock.time_zone);
    let schedule = inv
        .schedule
        .as_ref()
        .map(|s| format!(" ({})", super::schedule::format(s)))
        .unwrap_or_default();
    emit(&format!(
        "Invited {} to {} as {}{schedule}. They accept by signing in with that number; the invitation expires {} ({}). Id: {}\n",
        inv.phone,
        clean(&lock.name),
        level_name(inv.access_level),
        local_minutes(&inv.expires_at, &tz),
        lock.time_zone,
        inv.id
    ))
}

// ------------------------------------------------------------------------------ guest keys

/// Whether the precautions are confirmed: by the flag, or by the person at the terminal.
fn confirm_precautions(accepted: bool) -> Result<(), Fail> {
    if accepted {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(usage(format!(
            "a guest key needs its precautions confirmed, and there is no terminal to ask on: \
             read them below, then pass --accept-precautions\n{PRECAUTIONS}"
        )));
    }
    eprintln!("{PRECAUTIONS}");
    match read_line(Some("Make the key? [y/N] "))?.map(|a| a.to_lowercase()) {
        Some(a) if a == "y" || a == "yes" => Ok(()),
        _ => Err(Fail::new(exit::REFUSED, "no guest key was made")),
    }
}

async fn create_key(args: CreateKeyArgs) -> Result<(), Fail> {
    let (starts_at, ends_at) = match (args.start, args.end, args.one_time) {
        (Some(s), Some(e), _) => (s, e),
        (None, None, true) => {
            let now = jiff::Timestamp::now();
            let day = |t: &str| times::parse_arg(t, now).map_err(usage);
            (day("now")?, day("+24h")?)
        }
        (None, None, false) => return Err(usage("give the window with --start T --end T, or --one-time")),
        _ => return Err(usage("give both --start and --end")),
    };
    let ctx = connect(&args.common)?;
    let lock = resolve_lock(&ctx, &args.lock).await?;
    confirm_precautions(args.accept_precautions)?;
    let body = CreateGuestKey {
        name: args.name,
        phone: args.phone,
        starts_at,
        ends_at,
        one_time: args.one_time,
        precautions_accepted: true,
    };
    let answer = ctx
        .client
        .create_guest_key_with_json(&lock.id, &body)
        .await
        .map_err(|e| api_fail(e, &ctx.server))?;
    if ctx.json {
        return emit_json(&answer.text);
    }
    emit(&key_card(&answer.value, &lock))
}

/// One guest key, for people.
fn key_card(k: &GuestKey, lock: &Lock) -> String {
    let tz = times::zone(&lock.time_zone);
    let sms = match (&k.phone, k.sms) {
        (Some(p), s) => format!("{} to {p}", sms_name(s)),
        (None, _) => "none".into(),
    };
    let mut t = Table::new(&["", ""]);
    t.row(vec!["Code:".into(), k.code.clone()]);
    t.row(vec![
        "Valid:".into(),
        format!(
            "{} to {} ({})",
            local_minutes(&k.starts_at, &tz),
            local_minutes(&k.ends_at, &tz),
            lock.time_zone
        ),
    ]);
    t.row(vec!["One-time:".into(), if k.one_time { "yes" } else { "no" }.into()]);
    t.row(vec!["Status:".into(), key_status_name(k.status).into()]);
    t.row(vec!["SMS:".into(), sms]);
    t.row(vec!["Id:".into(), k.id.clone()]);
    let rows: String = t.render().lines().skip(1).map(|l| format!("  {l}\n")).collect();
    format!(
        "Guest key \"{}\" for {}\n{rows}{}\n",
        clean(&k.name),
        clean(&lock.name),
        clean(&k.instructions)
    )
}

async fn list_keys(args: LockArgs) -> Result<(), Fail> {
    let ctx = connect(&args.common)?;
    let lock = resolve_lock(&ctx, &args.lock).await?;
    let answer = ctx
        .client
        .guest_keys_with_json(&lock.id)
        .await
        .map_err(|e| api_fail(e, &ctx.server))?;
    if ctx.json {
        return emit_json(&answer.text);
    }
    if answer.value.is_empty() {
        return emit(&format!("{} has no guest keys.\n", clean(&lock.name)));
    }
    let tz = times::zone(&lock.time_zone);
    let mut t = Table::new(&[
        "NAME",
        "STATUS",
        &format!("STARTS ({})", lock.time_zone),
        "ENDS",
        "ONE-TIME",
        "CODE",
        "SMS",
        "SYNC",
        "ID",
    ]);
    for k in &answer.value {
        t.row(vec![
            k.name.clone(),
            key_status_name(k.status).into(),
            local_minutes(&k.starts_at, &tz),
            local_minutes(&k.ends_at, &tz),
            if k.one_time { "yes" } else { "no" }.into(),
            k.code.clone(),
            sms_name(k.sms).into(),
            sync_name(k.sync).into(),
            k.id.clone(),
        ]);
    }
    emit(&t.render())
}

/// The key `arg` names on a lock: its id, else the name of exactly one key that can still be
/// `done` ("revoked", "extended", ...: scheduled or active).
fn pick_key(keys: &[GuestKey], arg: &str, lock: &str, done: &str) -> Result<GuestKey, Fail> {
    if let Some(k) = keys.iter().find(|k| k.id == arg) {
        return Ok(k.clone());
    }
    let want = arg.trim().to_lowercase();
    let named: Vec<&GuestKey> = keys.iter().filter(|k| k.name.trim().to_lowercase() == want).collect();
    let live: Vec<&GuestKey> = named
        .iter()
        .copied()
        .filter(|k| matches!(k.status, GuestKeyStatus::Scheduled | GuestKeyStatus::Active))
        .collect();
    let list = |ks: &[&GuestKey]| -> String {
        let mut t = Table::new(&["NAME", "STATUS", "ID"]);
        for k in ks {
            t.row(vec![k.name.clone(), key_status_name(k.status).into(), k.id.clone()]);
        }
        t.render().lines().map(|l| format!("\n  {l}")).collect::<String>()
    };
    match (live.len(), named.len()) {
        (1, _) => Ok(live[0].clone()),
        (0, 0) => {
            let all_live: Vec<&GuestKey> = keys
                .iter()
                .filter(|k| matches!(k.status, GuestKeyStatus::Scheduled | GuestKeyStatus::Active))
                .collect();
            let choices = if all_live.is_empty() {
                format!(" (it has none that can be {done})")
            } else {
                format!("; the keys that can be {done}:{}", list(&all_live))
            };
            Err(Fail::new(
                exit::REFUSED,
                format!(
                    "{} has no guest key with the id or name '{}'{choices}",
                    clean(lock),
                    clean(arg)
                ),
            ))
        }
        (0, _) => Err(Fail::new(
            exit::REFUSED,
            format!(
                "no guest key named '{}' on {} can still be {done}:{}",
                clean(arg),
                clean(lock),
                list(&named)
            ),
        )),
        (n, _) => Err(Fail::new(
            exit::REFUSED,
            format!(
                "'{}' names {n} guest keys on {}; give the id instead:{}",
                clean(arg),
                clean(lock),
                list(&live)
            ),
        )),
    }
}

/// The server, the lock and the guest key a key command names (`done`: what the command does
/// to it, for the error when the name fits no key or several).
async fn named_key(common: &Common, lock: &str, key: &str, done: &str) -> Result<(Ctx, Lock, GuestKey), Fail> {
    let ctx = connect(common)?;
    let lock = resolve_lock(&ctx, lock).await?;
    let keys = ctx
        .client
        .guest_keys(&lock.id)
        .await
        .map_err(|e| api_fail(e, &ctx.server))?;
    let key = pick_key(&keys, key, &lock.name, done)?;
    Ok((ctx, lock, key))
}

async fn revoke_key(args: RevokeKeyArgs) -> Result<(), Fail> {
    let (ctx, lock, key) = named_key(&args.common, &args.lock, &args.key, "revoked").await?;
    ctx.client
        .revoke_guest_key(&lock.id, &key.id)
        .await
        .map_err(|e| api_fail(e, &ctx.server))?;
    // The API answers 204; the key as it is now is what a script wants to see.
    let after = ctx
        .client
        .guest_key_with_json(&lock.id, &key.id)
        .await
        .map_err(|e| api_fail(e, &ctx.server))?;
    if ctx.json {
        return emit_json(&after.text);
    }
    emit(&format!(
        "Revoked guest key \"{}\" ({}) on {}; the lock stops it as soon as it hears of it (sync: {}).\n",
        clean(&key.name),
        key.id,
        clean(&lock.name),
        sync_name(after.value.sync)
    ))
}

async fn extend_key(args: ExtendKeyArgs) -> Result<(), Fail> {
    let (ctx, lock, key) = named_key(&args.common, &args.lock, &args.key, "extended").await?;
    let answer = ctx
        .client
        .extend_guest_key_with_json(&lock.id, &key.id, &args.end)
        .await
        .map_err(|e| api_fail(e, &ctx.server))?;
    if ctx.json {
        return emit_json(&answer.text);
    }
    let what = if answer.value.id == key.id {
        "The code is the same; the lock has the new end on its next sync.".to_string()
    } else {
        format!(
            "The old code could not cover the new end: this is a new code, and the old one ({}) stops working at the lock's next sync.",
            key.code
        )
    };
    emit(&format!("{}{what}\n", key_card(&answer.value, &lock)))
}

async fn resend_key(args: RevokeKeyArgs) -> Result<(), Fail> {
    let (ctx, lock, key) = named_key(&args.common, &args.lock, &args.key, "texted again").await?;
    let answer = ctx
        .client
        .resend_guest_key_with_json(&lock.id, &key.id)
        .await
        .map_err(|e| api_fail(e, &ctx.server))?;
    if ctx.json {
        return emit_json(&answer.text);
    }
    emit(&format!(
        "Texting guest key \"{}\" ({}) to {} again (SMS: {}).\n",
        clean(&key.name),
        key.id,
        answer.value.phone.as_deref().map(clean).unwrap_or_default(),
        sms_name(answer.value.sms)
    ))
}

// ------------------------------------------------------------------------------ unlock

async fn unlock(args: LockArgs) -> Result<(), Fail> {
    let ctx = connect(&args.common)?;
    let lock = resolve_lock(&ctx, &args.lock).await?;
    let answer = ctx
        .client
        .unlock_with_json(&lock.id)
        .await
        .map_err(|e| api_fail(e, &ctx.server))?;
    if ctx.json {
        return emit_json(&answer.text);
    }
    emit(&format!("{}: {}.\n", clean(&lock.name), clean(&answer.value.outcome)))
}

// ------------------------------------------------------------------------------ calendars

async fn add_calendar(args: AddCalendarArgs) -> Result<(), Fail> {
    let ctx = connect(&args.common)?;
    let lock = resolve_lock(&ctx, &args.lock).await?;
    let body = latchkey_client::model::CreateCalendar {
        url: args.url,
        name: args.name,
        check_in: args.check_in,
        check_out: args.check_out,
    };
    let cal = ctx
        .client
        .create_calendar(&lock.id, &body)
        .await
        .map_err(|e| api_fail(e, &ctx.server))?;
    if ctx.json {
        return emit_json(&serde_json::to_string_pretty(&cal).unwrap_or_default());
    }
    let mut out = format!(
        "Added calendar \"{}\" ({}) to {}: {} reservation(s) with keys.\n",
        clean(&cal.name),
        cal.id,
        clean(&lock.name),
        cal.reservations.len()
    );
    if let Some(e) = &cal.last_error {
        out.push_str(&format!("The first read failed: {}\n", clean(e)));
    }
    emit(&out)
}

async fn list_calendars(args: LockArgs) -> Result<(), Fail> {
    let ctx = connect(&args.common)?;
    let lock = resolve_lock(&ctx, &args.lock).await?;
    let cals = ctx
        .client
        .calendars(&lock.id)
        .await
        .map_err(|e| api_fail(e, &ctx.server))?;
    if ctx.json {
        return emit_json(&serde_json::to_string_pretty(&cals).unwrap_or_default());
    }
    if cals.is_empty() {
        return emit(&format!("{} has no calendars.\n", clean(&lock.name)));
    }
    let tz = times::zone(&lock.time_zone);
    let mut t = Table::new(&[
        "NAME",
        "CHECK-IN",
        "CHECK-OUT",
        "RESERVATIONS",
        "LAST READ",
        "LAST ERROR",
        "ID",
    ]);
    for c in &cals {
        t.row(vec![
            c.name.clone(),
            c.check_in.clone(),
            c.check_out.clone(),
            c.reservations.len().to_string(),
            c.last_synced_at
                .as_deref()
                .map(|s| local_minutes(s, &tz))
                .unwrap_or_else(|| "never".into()),
            c.last_error.clone().unwrap_or_default(),
            c.id.clone(),
        ]);
    }
    emit(&t.render())
}

/// The calendar `arg` names on a lock: its id, else its name (any case).
async fn pick_calendar(ctx: &Ctx, lock: &Lock, arg: &str) -> Result<latchkey_client::model::Calendar, Fail> {
    let cals = ctx
        .client
        .calendars(&lock.id)
        .await
        .map_err(|e| api_fail(e, &ctx.server))?;
    if let Some(c) = cals.iter().find(|c| c.id == arg) {
        return Ok(c.clone());
    }
    let mut found: Vec<_> = cals.into_iter().filter(|c| c.name.eq_ignore_ascii_case(arg)).collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Fail::new(
            exit::REFUSED,
            format!(
                "no calendar with the id or name '{}' on {}",
                clean(arg),
                clean(&lock.name)
            ),
        )),
        n => Err(Fail::new(
            exit::REFUSED,
            format!(
                "'{}' names {n} calendars of {}; give its id instead",
                clean(arg),
                clean(&lock.name)
            ),
        )),
    }
}

async fn sync_calendar(args: CalendarRefArgs) -> Result<(), Fail> {
    let ctx = connect(&args.common)?;
    let lock = resolve_lock(&ctx, &args.lock).await?;
    let cal = pick_calendar(&ctx, &lock, &args.calendar).await?;
    let r = ctx
        .client
        .sync_calendar(&lock.id, &cal.id)
        .await
        .map_err(|e| api_fail(e, &ctx.server))?;
    if ctx.json {
        return emit_json(&serde_json::to_string_pretty(&r).unwrap_or_default());
    }
    if let Some(e) = &r.error {
        return Err(Fail::new(
            exit::REFUSED,
            format!(
                "calendar \"{}\" was not read, nothing changed: {}",
                clean(&cal.name),
                clean(e)
            ),
        ));
    }
    emit(&format!(
        "Read calendar \"{}\": {} added, {} changed, {} cancelled, {} unchanged.\n",
        clean(&cal.name),
        r.added,
        r.changed,
        r.cancelled,
        r.unchanged
    ))
}

async fn remove_calendar(args: CalendarRefArgs) -> Result<(), Fail> {
    let ctx = connect(&args.common)?;
    let lock = resolve_lock(&ctx, &args.lock).await?;
    let cal = pick_calendar(&ctx, &lock, &args.calendar).await?;
    ctx.client
        .delete_calendar(&lock.id, &cal.id)
        .await
        .map_err(|e| api_fail(e, &ctx.server))?;
    if ctx.json {
        return emit_json(&serde_json::json!({"deleted": cal.id}).to_string());
    }
    emit(&format!(
        "Deleted calendar \"{}\" ({}); its upcoming keys are revoked.\n",
        clean(&cal.name),
        cal.id
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_client::model::LockSettings;

    fn lock(id: &str, name: &str) -> Lock {
        Lock {
            id: id.into(),
            name: name.into(),
            time_zone: "Europe/Berlin".into(),
            online: true,
            last_seen_at: None,
            my_access_level: AccessLevel::Admin,
            settings: LockSettings {
                wrong_code_limit: 5,
                lockout_seconds: 60,
            },
            sync: SyncState::Synced,
            bolt: None,
            capacity: None,
        }
    }

    #[test]
    fn a_lock_is_named_by_id_or_by_name_in_any_case() {
        let locks = vec![
            lock("lk_1", "Front door"),
            lock("lk_2", "Garage"),
            lock("lk_3", "garage"),
        ];
        assert_eq!(pick_lock(locks.clone(), "lk_2").unwrap().id, "lk_2");
        assert_eq!(pick_lock(locks.clone(), "FRONT DOOR").unwrap().id, "lk_1");
        assert_eq!(pick_lock(locks.clone(), " front door ").unwrap().id, "lk_1");
        let e = pick_lock(locks.clone(), "Garage").unwrap_err();
        assert_eq!(e.code, exit::REFUSED);
        assert!(e.message.contains("names 2 of your locks"), "{}", e.message);
        assert!(
            e.message.contains("lk_2") && e.message.contains("lk_3"),
            "{}",
            e.message
        );
        let e = pick_lock(locks.clone(), "Back door").unwrap_err();
        assert!(
            e.message.contains("no lock with the id or name 'Back door'"),
            "{}",
            e.message
        );
        for id in ["lk_1", "lk_2", "lk_3"] {
            assert!(e.message.contains(id), "{}", e.message);
        }
        let e = pick_lock(Vec::new(), "x").unwrap_err();
        assert!(e.message.contains("member of no lock"), "{}", e.message);
    }

    fn key(id: &str, name: &str, status: GuestKeyStatus) -> GuestKey {
        GuestKey {
            id: id.into(),
            name: name.into(),
            phone: None,
            code: "123456789012".into(),
            starts_at: "2027-07-01T15:00:00+02:00".into(),
            ends_at: "2027-07-02T11:00:00+02:00".into(),
            one_time: false,
            status,
            sms: SmsState::None,
            sync: SyncState::Synced,
            instructions: String::new(),
            source: None,
        }
    }

    #[test]
    fn a_key_is_named_by_id_or_by_the_name_of_one_live_key() {
        use GuestKeyStatus::*;
        let keys = vec![
            key("gk_1", "Bob", Revoked),
            key("gk_2", "Bob", Active),
            key("gk_3", "Ann", Scheduled),
            key("gk_4", "Ann", Active),
            key("gk_5", "Cy", Expired),
        ];
        assert_eq!(pick_key(&keys, "gk_1", "Door", "revoked").unwrap().id, "gk_1");
        assert_eq!(pick_key(&keys, "bob", "Door", "revoked").unwrap().id, "gk_2");
        let e = pick_key(&keys, "Ann", "Door", "revoked").unwrap_err();
        assert!(e.message.contains("names 2 guest keys"), "{}", e.message);
        let e = pick_key(&keys, "Cy", "Door", "revoked").unwrap_err();
        assert!(
            e.message.contains("can still be revoked") && e.message.contains("gk_5"),
            "{}",
            e.message
        );
        let e = pick_key(&keys, "Dee", "Door", "revoked").unwrap_err();
        assert!(
            e.message.contains("gk_2") && e.message.contains("gk_3"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("gk_5"), "{}", e.message);
    }

    #[test]
    fn api_errors_name_each_field_and_the_flag_that_carries_it() {
        use latchkey_client::model::{FieldError, Problem};
        let e = ApiError::Status {
            status: reqwest::StatusCode::UNPROCESSABLE_ENTITY,
            problem: Some(Problem {
                type_: "https://latchkey.dev/problems/invalid".into(),
                title: "Invalid input".into(),
                status: 422,
                detail: "phone: not a phone number; ends_at: is in the past".into(),
                errors: vec![
                    FieldError {
                        field: "phone".into(),
                        message: "not a phone number".into(),
                    },
                    FieldError {
                        field: "ends_at".into(),
                        message: "is in the past".into(),
                    },
                ],
            }),
            retry_after: None,
        };
        let f = api_fail(e, "http://x");
        assert_eq!(f.code, exit::REFUSED);
        assert_eq!(
            f.message,
            "Invalid input (HTTP 422)\n  phone: not a phone number\n  ends_at (--end): is in the past"
        );
        let e = ApiError::Status {
            status: reqwest::StatusCode::UNAUTHORIZED,
            problem: None,
            retry_after: None,
        };
        assert_eq!(api_fail(e, "http://x").code, exit::NOT_SIGNED_IN);
        let e = ApiError::Status {
            status: reqwest::StatusCode::TOO_MANY_REQUESTS,
            problem: Some(Problem {
                type_: String::new(),
                title: "Too many attempts".into(),
                status: 429,
                detail: "too many sign-in codes for this number".into(),
                errors: Vec::new(),
            }),
            retry_after: Some(30),
        };
        let f = api_fail(e, "http://x");
        assert_eq!(
            f.message,
            "too many sign-in codes for this number (HTTP 429)\n  try again in 30 s"
        );
    }
}

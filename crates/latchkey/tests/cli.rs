//! The command-line client, run as a person or a script runs it: the built `latchkey` binary
//! against a real server with a real virtual lock (`latchkey up`), standard input a pipe (not a
//! terminal), the session in a temporary config folder. It signs in with the code from the SMS
//! outbox, lists locks and members, invites (with a schedule), makes a guest key that opens the
//! lock's keypad, gives a key a later end and texts its code again, unlocks, reads and follows
//! the activity log, revokes the key, and signs out;
//! and it refuses clearly: a bad phone number by field, an unknown lock name with the choices,
//! precautions not confirmed, not signed in, a session never sent to another server.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Ports, eventually, keypad, sign_in, start_up};
use latchkey_client::Client;
use latchkey_client::model::{Event, GuestKey, GuestKeyStatus, Invitation, Lock, Member};
use serde_json::Value;

const OWNER: &str = "+12025550191";
const FAMILY: &str = "+4915123456791";
const RECURRING: &str = "+819012345691";
const GUEST: &str = "+33612345691";

/// Runs client commands with their own home and config folders, as one user would.
struct User {
    home: PathBuf,
    config: PathBuf,
}

impl User {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_latchkey"));
        c.args(args)
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", &self.config)
            .env_remove("LATCHKEY_SERVER");
        c
    }

    /// Runs to the end with standard input `stdin` (a pipe, so not a terminal).
    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run latchkey");
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        wait_output(child, 60)
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, "");
        assert_eq!(out.status.code(), Some(0), "latchkey {args:?}\n{}", show(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    fn session_dir(&self) -> PathBuf {
        self.config.join("latchkey")
    }
}

fn wait_output(child: std::process::Child, secs: u64) -> Output {
    let (tx, rx) = mpsc::channel();
    let id = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
            panic!("latchkey did not finish within {secs} s");
        }
    }
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn sign_in_codes(outbox: &Path, phone: &str) -> Vec<String> {
    std::fs::read_to_string(outbox)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["to"] == phone && m["body"].as_str().unwrap_or("").contains("sign-in code"))
        .filter_map(|m| {
            m["body"]
                .as_str()?
                .split(|c: char| !c.is_ascii_digit())
                .find(|w| w.len() == 6)
                .map(str::to_string)
        })
        .collect()
}

/// `latchkey login`, with the code read from the outbox written to its standard input (which
/// is a pipe), or `wrong_code` instead of it.
fn login(user: &User, server: &str, outbox: &Path, wrong_code: Option<&str>) -> Output {
    let before = sign_in_codes(outbox, OWNER).len();
    let mut child = user
        .command(&["login", "--server", server, "--phone", "+1 (202) 555-0191"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        let codes = sign_in_codes(outbox, OWNER);
        if codes.len() > before {
            break codes.last().unwrap().clone();
        }
        assert!(Instant::now() < deadline, "no sign-in SMS for the CLI's login");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{}", wrong_code.unwrap_or(&code)).unwrap();
    drop(stdin);
    wait_output(child, 30)
}

/// Runs a command on a pseudo-terminal (util-linux `script`, in Debian's essential
/// `bsdutils`), typing what `input` returns a moment after it starts; its terminal output and
/// exit code. `None` (with the reason printed) where `script` is missing, except under CI.
fn on_terminal(
    user: &User,
    args: &[&str],
    input: impl FnOnce() -> String + Send + 'static,
) -> Option<(Option<i32>, String)> {
    let quote = |a: &str| format!("'{}'", a.replace('\'', r"'\''"));
    let line = std::iter::once(env!("CARGO_BIN_EXE_latchkey").to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .map(|a| quote(&a))
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new("script");
    cmd.args(["-qfec", &line, "/dev/null"])
        .env("HOME", &user.home)
        .env("XDG_CONFIG_HOME", &user.config)
        .env_remove("LATCHKEY_SERVER")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => panic!("`script` is needed under CI: {e}"),
        Err(e) => {
            eprintln!("SKIPPED the terminal prompts: cannot run util-linux `script` ({e})");
            return None;
        }
    };
    let mut stdin = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        let _ = stdin.write_all(input().as_bytes());
    });
    let out = wait_output(child, 60);
    Some((out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned()))
}

fn json<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The first line of a table must be its header, the names column first, and every row must
/// put its cells where the header's columns start.
fn assert_aligned(table: &str, first_header: &str, column: &str) {
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with(first_header), "{table}");
    let at = lines[0]
        .find(column)
        .unwrap_or_else(|| panic!("no {column} column:\n{table}"));
    for l in &lines[1..] {
        let (before, after) = l.split_at(l.char_indices().nth(at).map(|(i, _)| i).unwrap_or(l.len()));
        assert!(
            before.ends_with("  "),
            "a cell ends two spaces before {column}:\n{table}"
        );
        assert!(
            !after.starts_with(' '),
            "the {column} cell starts at its column:\n{table}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_does_an_admin_s_jobs_against_a_real_server_and_lock() {
    latchkey_client::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ports = Ports::free();
    let _up = start_up(&data, &ports, OWNER);
    let server = format!("http://127.0.0.1:{}", ports.http);
    let control = format!("http://127.0.0.1:{}", ports.control);
    let outbox = data.join("outbox.jsonl");
    let api = Client::new(&server);
    let http = reqwest::Client::new();
    let user = User {
        home: dir.path().join("home"),
        config: dir.path().join("xdg-config"),
    };
    std::fs::create_dir_all(&user.home).unwrap();

    // Not signed in: exit 3, and it says what to do.
    let out = user.run(&["locks"], "");
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("latchkey login"),
        "{}",
        show(&out)
    );

    // A wrong code: refused (exit 1), nothing kept.
    let out = login(&user, &format!("{server}/"), &outbox, Some("000000"));
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong"), "{}", show(&out));
    assert!(!user.session_dir().join("session.json").exists());

    // Signed in with the code from the SMS on standard input; the session is owner-only.
    let out = login(&user, &format!("{server}/"), &outbox, None);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("Signed in") && said.contains(OWNER), "{}", show(&out));
    let file = user.session_dir().join("session.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&user.session_dir()), 0o700, "the session folder is owner-only");
        assert_eq!(mode(&file), 0o600, "the session file is owner-only");
    }
    let stored: Value = json(&std::fs::read_to_string(&file).unwrap());
    assert_eq!(stored["server"], server.as_str(), "the address is kept normalised");
    let mut token = stored["token"].as_str().unwrap().to_string();
    assert!(!said.contains(&token), "the token is not printed");

    // On a terminal it asks for the code, and again after a wrong one; the session it replaces
    // is signed out.
    let before = sign_in_codes(&outbox, OWNER).len();
    let codes = outbox.clone();
    let typed = move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let all = sign_in_codes(&codes, OWNER);
            if all.len() > before {
                return format!("000000\n{}\n", all.last().unwrap());
            }
            if Instant::now() > deadline {
                return "\n".into();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    if let Some((code, screen)) = on_terminal(&user, &["login", "--phone", OWNER], typed) {
        assert_eq!(code, Some(0), "{screen}");
        assert!(screen.contains("Code from the SMS: "), "{screen}");
        assert!(screen.contains("wrong, used or expired; try again"), "{screen}");
        assert!(screen.contains("Signed in to"), "{screen}");
        let status = api.with_token(&token).me().await.unwrap_err().status();
        assert_eq!(status, Some(401), "the replaced session is signed out");
        let stored: Value = json(&std::fs::read_to_string(&file).unwrap());
        assert_eq!(
            stored["server"],
            server.as_str(),
            "signed in again to the stored server"
        );
        token = stored["token"].as_str().unwrap().to_string();
    }
    assert!(!user.home.join(".config").exists(), "XDG_CONFIG_HOME wins over HOME");

    // Locks: the API's JSON as is, and a table with the name first.
    let locks: Vec<Lock> = json(&user.ok(&["locks", "--json"]));
    assert_eq!(locks.len(), 1, "{locks:?}");
    let lock = locks[0].clone();
    assert_eq!(lock.name, "Front door");
    let lid = lock.id.as_str();
    let table = user.ok(&["locks"]);
    assert_aligned(&table, "NAME", "ACCESS");
    assert!(table.lines().nth(1).unwrap().starts_with("Front door  "), "{table}");
    assert!(table.contains(lid) && table.contains("Europe/Berlin"), "{table}");

    // Invitations, naming the lock in any case; a schedule in the CLI's syntax.
    let inv: Invitation = json(&user.ok(&["invite", "front DOOR", FAMILY, "--level", "family", "--json"]));
    assert_eq!(inv.phone, FAMILY);
    let schedule = "mon-fri 09:00-17:00; sat 22:00-02:00; 2027-01-01..2027-06-30";
    let said = user.ok(&[
        "invite",
        "Front door",
        "+81 90 1234 5691",
        "--level",
        "recurring-guest",
        "--schedule",
        schedule,
    ]);
    assert!(said.contains(RECURRING) && said.contains(schedule), "{said}");
    let guest = sign_in(&api, &outbox, RECURRING).await;
    let mine = guest.my_invitations().await.unwrap();
    guest.accept_invitation(&mine[0].id).await.unwrap();

    // A bad phone number: refused by the server, the field named, a non-zero exit.
    let out = user.run(&["invite", "Front door", "+1 555", "--level", "family"], "");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\n  phone: "),
        "the field and its message:\n{}",
        show(&out)
    );
    // A schedule the CLI cannot read: a usage error before anything is sent.
    let out = user.run(
        &[
            "invite",
            "Front door",
            FAMILY,
            "--level",
            "recurring-guest",
            "--schedule",
            "mon-fry 9:00-17:00",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("'fry' is not a day"),
        "{}",
        show(&out)
    );

    // Members: both, the guest's schedule as the API holds it and in the CLI's syntax.
    let members: Vec<Member> = json(&user.ok(&["members", lid, "--json"]));
    let rg = members
        .iter()
        .find(|m| m.phone == RECURRING)
        .expect("the guest is a member");
    let s = rg.schedule.as_ref().unwrap();
    assert_eq!(s.windows.len(), 2);
    assert_eq!(s.windows[0].days, ["mon", "tue", "wed", "thu", "fri"]);
    assert_eq!(
        (s.windows[1].from.as_str(), s.windows[1].to.as_str()),
        ("22:00", "02:00")
    );
    assert_eq!(s.valid_from.as_deref(), Some("2027-01-01"));
    assert_eq!(s.valid_until.as_deref(), Some("2027-06-30"));
    let table = user.ok(&["members", "Front door"]);
    assert_aligned(&table, "NAME", "PHONE");
    assert!(table.contains(OWNER) && table.contains(schedule), "{table}");

    // An unknown lock name: a clear error that lists the choices.
    let out = user.run(&["members", "Back door"], "");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'Back door'") && err.contains("Front door") && err.contains(lid),
        "{err}"
    );

    // A guest key needs its precautions confirmed: without a terminal, only by the flag.
    let out = user.run(
        &[
            "guest-key",
            "create",
            lid,
            "--name",
            "Bob",
            "--start",
            "now",
            "--end",
            "+2h",
        ],
        "y\n",
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--accept-precautions") && err.contains("Anyone who has the code"),
        "{err}"
    );
    assert!(user.ok(&["guest-key", "list", lid]).contains("no guest keys"));
    // On a terminal it shows them and asks; anything but yes makes no key.
    let create = [
        "guest-key",
        "create",
        lid,
        "--name",
        "Carol",
        "--start",
        "now",
        "--end",
        "+1h",
    ];
    if let Some((code, screen)) = on_terminal(&user, &create, || "n\n".into()) {
        assert_eq!(code, Some(1), "{screen}");
        assert!(
            screen.contains("Anyone who has the code") && screen.contains("[y/N]"),
            "{screen}"
        );
        assert!(screen.contains("no guest key was made"), "{screen}");
        assert!(user.ok(&["guest-key", "list", lid]).contains("no guest keys"));
        let (code, screen) = on_terminal(&user, &create, || "yes\n".into()).unwrap();
        assert_eq!(code, Some(0), "{screen}");
        assert!(screen.contains("Guest key \"Carol\" for Front door"), "{screen}");
    }

    // Made by a script, texted to the guest; it opens the lock's keypad.
    let key: GuestKey = json(&user.ok(&[
        "guest-key",
        "create",
        "front door",
        "--name",
        "Bob",
        "--start",
        "now",
        "--end",
        "+2h",
        "--phone",
        GUEST,
        "--accept-precautions",
        "--json",
    ]));
    assert_eq!((key.name.as_str(), key.status), ("Bob", GuestKeyStatus::Active));
    assert!(
        key.starts_at.ends_with("+01:00") || key.starts_at.ends_with("+02:00"),
        "lock offset: {key:?}"
    );
    let granted = eventually("the CLI's guest code to open the keypad", 20, || async {
        let r = keypad(&http, &control, &format!("{}#", key.code)).await?;
        (r["outcome"] == "granted").then_some(r)
    })
    .await;
    assert_eq!(granted["outcome"], "granted");
    let table = user.ok(&["guest-key", "list", "Front door"]);
    assert_aligned(&table, "NAME", "STATUS");
    let row = table.lines().find(|l| l.starts_with("Bob ")).expect("Bob's row");
    assert!(
        row.contains(&key.code) && row.contains(&key.id) && row.contains("active"),
        "{table}"
    );
    let keys: Vec<GuestKey> = json(&user.ok(&["guest-key", "list", lid, "--json"]));
    assert!(keys.iter().any(|k| k.id == key.id && k.code == key.code), "{keys:?}");
    // A one-time key without a window works from now for a day.
    let once: GuestKey = json(&user.ok(&[
        "guest-key",
        "create",
        lid,
        "--name",
        "Courier",
        "--one-time",
        "--accept-precautions",
        "--json",
    ]));
    assert!(once.one_time);
    let at = |t: &str| t.parse::<jiff::Timestamp>().unwrap();
    let hours = at(&once.ends_at).duration_since(at(&once.starts_at)).as_secs_f64() / 3600.0;
    assert!((23.9..=24.1).contains(&hours), "{once:?}");

    // A later end (the server keeps the code or replaces the key, as `api_parity.rs` tests on
    // both paths); a later end again keeps the code. Then its code is texted once more.
    let dora: GuestKey = json(&user.ok(&[
        "guest-key",
        "create",
        lid,
        "--name",
        "Dora",
        "--start",
        "now",
        "--end",
        "+2h",
        "--phone",
        GUEST,
        "--accept-precautions",
        "--json",
    ]));
    let longer: GuestKey = json(&user.ok(&["guest-key", "extend", lid, "Dora", "--end", "+10d", "--json"]));
    assert_eq!((longer.name.as_str(), longer.status), ("Dora", GuestKeyStatus::Active));
    let days = at(&longer.ends_at).duration_since(at(&dora.starts_at)).as_secs_f64() / 86_400.0;
    assert!((9.9..=10.1).contains(&days), "{longer:?}");
    let said = user.ok(&["guest-key", "extend", "Front door", &longer.id, "--end", "+11d"]);
    assert!(
        said.contains("The code is the same") && said.contains(&longer.code),
        "{said}"
    );
    let texts_with = |code: &str| {
        std::fs::read_to_string(&outbox)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(GUEST) && l.contains(code))
            .count()
    };
    let before = texts_with(&longer.code);
    let said = user.ok(&["guest-key", "resend", "Front door", "dora"]);
    assert!(
        said.contains("Texting guest key \"Dora\"") && said.contains(&longer.id),
        "{said}"
    );
    eventually("the code texted again", 20, || async {
        (texts_with(&longer.code) > before).then_some(())
    })
    .await;
    let out = user.run(&["guest-key", "resend", lid, &once.id], "");
    assert_eq!(
        out.status.code(),
        Some(1),
        "a key with no phone is not texted: {}",
        show(&out)
    );

    // Unlock, for people and for scripts.
    assert_eq!(user.ok(&["unlock", "Front door"]).trim(), "Front door: unlocked.");
    let unlocked: Value = json(&user.ok(&["unlock", lid, "--json"]));
    assert_eq!(unlocked["outcome"], "unlocked");

    // The activity log: the guest's entry at the keypad, and the remote unlocks.
    let events: Vec<Event> = eventually("the keypad entry in the activity log", 20, || async {
        let e: Vec<Event> = json(&user.ok(&["events", lid, "--json"]));
        e.iter()
            .any(|e| e.method.as_deref() == Some("keypad") && e.actor.as_ref().is_some_and(|a| a.name == "Bob"))
            .then_some(e)
    })
    .await;
    assert!(
        events.iter().any(|e| e.method.as_deref() == Some("remote")),
        "{events:?}"
    );
    let table = user.ok(&["events", "Front door", "--limit", "500"]);
    assert!(table.starts_with("AT (Europe/Berlin)"), "{table}");
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert!(
        rows.iter().any(|r| r.contains("keypad") && r.contains("Bob")),
        "{table}"
    );
    let mut times: Vec<&str> = rows.iter().map(|r| &r[..19]).collect();
    let oldest_first = times.clone();
    times.sort();
    assert_eq!(oldest_first, times, "oldest first:\n{table}");

    // Following: a new event is printed as it comes, one JSON object a line; Ctrl-C ends it
    // cleanly.
    let mut follow = user
        .command(&[
            "events",
            "Front door",
            "--follow",
            "--json",
            "--limit",
            "1",
            "--interval",
            "0.3",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first: Event = json(
        &rx.recv_timeout(Duration::from_secs(20))
            .expect("the newest event first"),
    );
    let denied = keypad(&http, &control, "999999#").await.unwrap();
    assert_eq!(denied["outcome"], "denied", "{denied}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut printed = vec![first];
    let new: Event = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the wrong code to be followed");
        let e: Event = json(&line);
        if e.outcome.as_deref() == Some("denied") {
            break e;
        }
        printed.push(e);
    };
    assert_eq!(new.method.as_deref(), Some("keypad"));
    assert!(
        events.len() >= 6 && printed.len() < 4,
        "--limit 1 starts from the newest event, not the whole log ({} of {}): {printed:?}",
        printed.len(),
        events.len()
    );
    // The lock's times have whole seconds, so its entry may sort before a server event of the
    // same second that was printed already: followed all the same.
    let status = Command::new("kill")
        .arg("-INT")
        .arg(follow.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let out = wait_output(follow, 10);
    assert_eq!(
        out.status.code(),
        Some(0),
        "Ctrl-C ends --follow cleanly: {}",
        show(&out)
    );

    // Revoked by name; the key stops opening the lock.
    let said = user.ok(&["guest-key", "revoke", "Front door", "bob"]);
    assert!(said.contains("Revoked") && said.contains(&key.id), "{said}");
    let out = user.run(&["guest-key", "revoke", lid, "Bob"], "");
    assert_eq!(
        out.status.code(),
        Some(1),
        "a revoked key cannot be revoked by name: {}",
        show(&out)
    );
    let revoked: GuestKey = json(&user.ok(&["guest-key", "revoke", lid, &once.id, "--json"]));
    assert_eq!(revoked.status, GuestKeyStatus::Revoked);
    eventually("the revoked code to be refused", 20, || async {
        let r = keypad(&http, &control, &format!("{}#", key.code)).await?;
        (r["outcome"] == "denied").then_some(())
    })
    .await;

    // A session is never sent to another server: no connection reaches it, exit 3.
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    other.set_nonblocking(true).unwrap();
    let other_url = format!("http://{}", other.local_addr().unwrap());
    let out = user.run(&["locks", "--server", &other_url], "");
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&other_url),
        "{}",
        show(&out)
    );
    let mut env_run = user.command(&["locks"]);
    env_run.env("LATCHKEY_SERVER", &other_url).stdin(Stdio::null());
    let out = env_run.output().unwrap();
    assert_eq!(out.status.code(), Some(3), "LATCHKEY_SERVER too: {}", show(&out));
    assert!(other.accept().is_err(), "nothing connected to the other server");
    // The same server spelled differently is the same server.
    user.ok(&["locks", "--server", &format!("HTTP://127.0.0.1:{}/", ports.http)]);

    // Signing out ends the session on the server and removes the file.
    assert!(user.ok(&["logout"]).contains("Signed out"));
    assert!(!file.exists());
    let status = api.with_token(&token).me().await.unwrap_err().status();
    assert_eq!(status, Some(401), "the token no longer works");
    let out = user.run(&["unlock", lid], "");
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
}

#[test]
fn help_lists_the_client_commands_beside_the_server_s() {
    for args in [&["help"][..], &["--help"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8(out.stdout).unwrap();
        let client = text.find("Client commands").expect(&text);
        let operator = text.find("Server and operator commands").expect(&text);
        for cmd in [
            "login",
            "logout",
            "locks",
            "members",
            "invite",
            "guest-key create",
            "guest-key list",
            "guest-key revoke",
            "guest-key extend",
            "guest-key resend",
            "unlock",
            "events",
        ] {
            let at = text
                .find(&format!("\n  {cmd} "))
                .unwrap_or_else(|| panic!("{cmd}:\n{text}"));
            assert!(at > client && at < operator, "{cmd} is a client command:\n{text}");
        }
        for cmd in ["serve", "up", "lock run", "guest-code", "bench"] {
            let at = text
                .find(&format!("\n  {cmd} "))
                .unwrap_or_else(|| panic!("{cmd}:\n{text}"));
            assert!(at > operator, "{cmd} is a server or operator command:\n{text}");
        }
    }
}

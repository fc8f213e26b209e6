//! `latchkey calendar add|list|sync|remove`, run as a host runs them: the built binary against
//! `latchkey up` (a real server and virtual lock, `--allow-private-targets` for the local feed
//! server), signed in with the code from the SMS outbox. A reservation's code opens the lock's
//! keypad; a broken feed is reported and changes nothing; removing the calendar revokes its
//! keys at the keypad.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Ports, eventually, keypad, start_up_with};
use latchkey_client::Client;
use latchkey_client::model::{Calendar, GuestKey, GuestKeyStatus};
use serde_json::Value;

const OWNER: &str = "+12025550177";

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
            .env_remove("LATCHKEY_SERVER")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run latchkey")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(0), "latchkey {args:?}\n{}", show(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// The session token `latchkey login` stored.
    fn token(&self) -> String {
        let text = std::fs::read_to_string(self.config.join("latchkey/session.json")).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        v["token"].as_str().unwrap().to_string()
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

fn sign_in_codes(outbox: &Path) -> Vec<String> {
    std::fs::read_to_string(outbox)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["to"] == OWNER && m["body"].as_str().unwrap_or("").contains("sign-in code"))
        .filter_map(|m| {
            m["body"]
                .as_str()?
                .split(|c: char| !c.is_ascii_digit())
                .find(|w| w.len() == 6)
                .map(str::to_string)
        })
        .collect()
}

/// `latchkey login` with the code from the outbox on standard input.
fn login(user: &User, server: &str, outbox: &Path) {
    let before = sign_in_codes(outbox).len();
    let mut child = user
        .command(&["login", "--server", server, "--phone", OWNER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        let codes = sign_in_codes(outbox);
        if codes.len() > before {
            break codes.last().unwrap().clone();
        }
        assert!(Instant::now() < deadline, "no sign-in SMS for the CLI's login");
        std::thread::sleep(Duration::from_millis(100));
    };
    writeln!(child.stdin.take().unwrap(), "{code}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

/// A listing's feed on loopback (one request per connection); what it serves can change.
fn feed_server(body: Arc<Mutex<String>>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/listing.ics", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let body = body.lock().unwrap().clone();
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\ncontent-type: text/calendar\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.flush();
            let mut rest = [0u8; 64];
            let _ = conn.set_read_timeout(Some(Duration::from_millis(50)));
            let _ = conn.read(&mut rest);
        }
    });
    url
}

/// An Airbnb-shaped export: Greta's stay began yesterday in Berlin (her key works now),
/// Hugo's starts in five days; a block.
fn feed() -> String {
    let tz = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let today = jiff::Timestamp::now().to_zoned_datetime(tz).date();
    let day = |n: i64| {
        today
            .checked_add(jiff::Span::new().days(n))
            .unwrap()
            .strftime("%Y%m%d")
            .to_string()
    };
    let mut out = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Airbnb Inc//Hosting Calendar 1.0//EN\r\n");
    for (uid, first, last, summary) in [
        ("res-greta@lk", -1, 2, "Reserved - Greta Gast"),
        ("res-hugo@lk", 5, 8, "Reserved - Hugo Later"),
        ("blk-1@lk", 9, 12, "Airbnb (Not available)"),
    ] {
        out += &format!(
            "BEGIN:VEVENT\r\nDTSTAMP:20270101T000000Z\r\nUID:{uid}\r\nDTSTART;VALUE=DATE:{}\r\n\
             DTEND;VALUE=DATE:{}\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\n",
            day(first),
            day(last)
        );
    }
    out + "END:VCALENDAR\r\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_connects_a_listing_s_calendar() {
    latchkey_client::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ports = Ports::free();
    let _up = start_up_with(&data, &ports, OWNER, &["--allow-private-targets"]);
    let server = format!("http://127.0.0.1:{}", ports.http);
    let control = format!("http://127.0.0.1:{}", ports.control);
    let http = reqwest::Client::new();
    let user = User {
        home: dir.path().join("home"),
        config: dir.path().join("xdg-config"),
    };
    std::fs::create_dir_all(&user.home).unwrap();
    login(&user, &server, &data.join("outbox.jsonl"));
    let api = Client::new(&server).with_token(user.token());
    let body = Arc::new(Mutex::new(feed()));
    let url = feed_server(body.clone());

    // Add: read at once; the block is no reservation.
    let said = user.ok(&[
        "calendar",
        "add",
        "front door",
        &url,
        "--check-in",
        "15:00",
        "--check-out",
        "11:00",
        "--name",
        "Seaside flat",
    ]);
    assert!(
        said.contains("Added calendar \"Seaside flat\"") && said.contains("2 reservation(s) with keys"),
        "{said}"
    );

    // List: a table and the API's JSON.
    let table = user.ok(&["calendar", "list", "Front door"]);
    let row = table
        .lines()
        .find(|l| l.starts_with("Seaside flat "))
        .unwrap_or_else(|| panic!("no row for the calendar:\n{table}"));
    assert!(
        row.contains("15:00") && row.contains("11:00") && !row.contains("never"),
        "{row}"
    );
    let cals: Vec<Calendar> = serde_json::from_str(&user.ok(&["calendar", "list", "Front door", "--json"])).unwrap();
    assert_eq!(cals.len(), 1);
    let cal = &cals[0];
    assert!(row.contains(&cal.id), "{row}");
    let names: Vec<&str> = cal.reservations.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Greta Gast", "Hugo Later"], "{cal:?}");

    // Greta's key opens the keypad once the lock has it.
    let lock_id = api.locks().await.unwrap()[0].id.clone();
    let greta: GuestKey = api
        .guest_keys(&lock_id)
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.name == "Greta Gast")
        .expect("Greta's key");
    assert_eq!(greta.status, GuestKeyStatus::Active);
    eventually("the reservation's code to open the keypad", 30, || async {
        let r = keypad(&http, &control, &format!("{}#", greta.code)).await?;
        (r["outcome"] == "granted").then_some(())
    })
    .await;

    // Sync, naming the calendar in any case: nothing changed.
    let said = user.ok(&["calendar", "sync", "Front door", "seaside FLAT"]);
    assert!(said.contains("0 added, 0 changed, 0 cancelled, 2 unchanged"), "{said}");
    // A broken feed: exit 1, the reason, nothing changed.
    *body.lock().unwrap() = "<html>Please sign in</html>".into();
    let out = user.run(&["calendar", "sync", "Front door", &cal.id]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("was not read, nothing changed"),
        "{}",
        show(&out)
    );
    let table = user.ok(&["calendar", "list", "Front door"]);
    assert!(table.contains("not a calendar"), "the last error is listed:\n{table}");
    assert_eq!(
        api.guest_keys(&lock_id)
            .await
            .unwrap()
            .iter()
            .filter(|k| k.status == GuestKeyStatus::Revoked)
            .count(),
        0
    );
    // An unknown calendar: exit 1, saying so.
    let out = user.run(&["calendar", "sync", "Front door", "Mountain hut"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no calendar"),
        "{}",
        show(&out)
    );

    // Remove: its keys are revoked, and Greta's code is refused at the keypad.
    let said = user.ok(&["calendar", "remove", "Front door", "Seaside flat"]);
    assert!(said.contains("Deleted calendar \"Seaside flat\""), "{said}");
    assert!(
        user.ok(&["calendar", "list", "Front door"])
            .contains("has no calendars")
    );
    let keys = api.guest_keys(&lock_id).await.unwrap();
    assert!(keys.iter().all(|k| k.status == GuestKeyStatus::Revoked), "{keys:?}");
    eventually("the removed calendar's code to be refused", 30, || async {
        let r = keypad(&http, &control, &format!("{}#", greta.code)).await?;
        (r["outcome"] == "denied").then_some(())
    })
    .await;
}

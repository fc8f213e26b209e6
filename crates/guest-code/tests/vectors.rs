//! The test vectors of `docs/guest-codes.md`, read from the document itself so that the
//! specification and the implementation cannot drift apart.

use latchkey_guest_code::{Check, ISSUER_SLOTS, IssuerState, RootSecret, Timing, Validity, check, mint, timing};

const DOC: &str = include_str!("../../../docs/guest-codes.md");

/// The body rows of the table that follows `<!-- vectors:NAME -->`, cells trimmed and
/// stripped of backticks.
fn table(name: &str) -> Vec<Vec<String>> {
    let marker = format!("<!-- vectors:{name} -->");
    let (_, rest) = DOC
        .split_once(&marker)
        .unwrap_or_else(|| panic!("no {marker} in the doc"));
    let rows: Vec<Vec<String>> = rest
        .trim_start()
        .lines()
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect()
        })
        .collect();
    assert!(rows.len() > 2, "table {name} is empty");
    rows[2..].to_vec()
}

fn secret(name: &str) -> RootSecret {
    let row = table("secrets")
        .into_iter()
        .find(|r| r[0] == name)
        .unwrap_or_else(|| panic!("no secret {name}"));
    RootSecret(unhex(&row[1]))
}

fn unhex(s: &str) -> [u8; 32] {
    assert_eq!(s.len(), 64, "{s}");
    core::array::from_fn(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Unix seconds of `YYYY-MM-DDTHH:MM:SSZ` (the only form the tables use).
fn unix(s: &str) -> i64 {
    let b = s.as_bytes();
    assert!(b.len() == 20 && b[19] == b'Z', "instant {s}");
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().expect("number");
    days_from_civil(n(0..4), n(5..7), n(8..10)) * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

fn iso(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

fn pairs(cell: &str) -> Vec<(u8, u32)> {
    if cell == "-" {
        return Vec::new();
    }
    cell.split_whitespace()
        .map(|p| {
            let (s, e) = p.split_once(':').expect("slot:epoch");
            (s.parse().expect("slot"), e.parse().expect("epoch"))
        })
        .collect()
}

fn issuer_table(root: &RootSecret, issuers: &str, revoked: &str) -> [IssuerState; ISSUER_SLOTS] {
    let mut t = [IssuerState::EMPTY; ISSUER_SLOTS];
    for (slot, epoch) in pairs(issuers) {
        t[usize::from(slot)] = IssuerState::active(epoch, root.issuer_key(slot, epoch));
    }
    for (slot, epoch) in pairs(revoked) {
        t[usize::from(slot)].revoked_key = Some(root.issuer_key(slot, epoch));
        t[usize::from(slot)].revoked_epoch = epoch;
    }
    t
}

/// The verdict line of `latchkey guest-code verify`.
fn verdict(c: Check, now: i64) -> String {
    match c {
        Check::Unknown => "denied unknown-credential".into(),
        Check::Revoked { .. } => "denied revoked".into(),
        Check::Genuine {
            slot,
            validity,
            one_time,
            ..
        } => match (validity, timing(validity, now)) {
            (Validity::Held { serial }, _) => {
                format!("granted slot={slot} held serial={serial} one_time={one_time}")
            }
            (_, Timing::NotYetValid) => "denied not-yet-valid".into(),
            (_, Timing::Expired) => "denied expired".into(),
            (v, Timing::Valid) => {
                let (start, end) = v.window_secs().expect("a window");
                format!(
                    "granted slot={slot} start={} end={} one_time={one_time}",
                    iso(start),
                    iso(end)
                )
            }
        },
    }
}

#[test]
fn instants_round_trip() {
    for s in [
        "1970-01-01T00:00:00Z",
        "2000-02-29T23:59:59Z",
        "2025-03-01T10:00:00Z",
        "2100-01-08T00:00:00Z",
    ] {
        assert_eq!(iso(unix(s)), s);
    }
    assert_eq!(unix("2025-03-01T10:00:00Z"), 1_740_823_200);
}

#[test]
fn issuer_keys_match_the_doc() {
    let rows = table("keys");
    assert!(rows.len() >= 7);
    for r in rows {
        let key = secret(&r[0]).issuer_key(r[1].parse().expect("slot"), r[2].parse().expect("epoch"));
        assert_eq!(hex(&key.0), r[3], "{r:?}");
    }
}

#[test]
fn minted_codes_match_the_doc() {
    let rows = table("mint");
    assert!(rows.len() >= 9);
    for r in rows {
        let [_, sec, lock, slot, epoch, window, one_time, effective, code] = &r[..] else {
            panic!("bad row {r:?}");
        };
        let root = secret(sec);
        let slot: u8 = slot.parse().expect("slot");
        let epoch: u32 = epoch.parse().expect("epoch");
        let one_time = match one_time.as_str() {
            "yes" => true,
            "no" => false,
            other => panic!("one-time {other}"),
        };
        let validity = match window.strip_prefix("held ") {
            Some(serial) => Validity::Held {
                serial: serial.parse().expect("serial"),
            },
            None => {
                let (a, b) = window.split_once('/').expect("start/end");
                Validity::covering(unix(a), unix(b)).expect("a valid window")
            }
        };
        match validity.window_secs() {
            Some((s, e)) => assert_eq!(&format!("{}/{}", iso(s), iso(e)), effective, "{r:?}"),
            None => assert_eq!(effective, "-"),
        }
        let key = root.issuer_key(slot, epoch);
        let minted = mint(&key, lock.as_bytes(), slot, epoch, validity, one_time).expect("mint");
        assert_eq!(&minted.to_string(), code, "{r:?}");

        // And the lock agrees, at the first second of the window.
        let now = validity.window_secs().map_or(1_740_823_200, |(s, _)| s);
        let issuers = issuer_table(&root, &format!("{slot}:{epoch}"), "-");
        assert_eq!(
            check(code.as_bytes(), lock.as_bytes(), &issuers, now),
            Check::Genuine {
                slot,
                validity,
                one_time,
                code: minted
            }
        );
    }
}

#[test]
fn verdicts_match_the_doc() {
    let rows = table("verify");
    assert!(rows.len() >= 32);
    for r in rows {
        let [_, code, sec, lock, issuers, revoked, at, want] = &r[..] else {
            panic!("bad row {r:?}");
        };
        let table = issuer_table(&secret(sec), issuers, revoked);
        let now = unix(at);
        let got = verdict(check(code.as_bytes(), lock.as_bytes(), &table, now), now);
        assert_eq!(&got, want, "{r:?}");
    }
}

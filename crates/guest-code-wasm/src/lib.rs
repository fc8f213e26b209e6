//! `latchkey-guest-code` for browsers: read an issuer file, mint a code as
//! `latchkey guest-code mint` does, and check a code as `latchkey guest-code verify` does.
//!
//! Built for `wasm32-unknown-unknown` by `scripts/build-wasm.sh` into `web/guest-code.wasm`,
//! which `web/guest-code.mjs` loads and wraps (see `docs/guest-codes.md`, "WebAssembly"). The
//! functions here are plain Rust taking and returning serde types, so the tests can call them
//! natively; [`abi`] is the C-ABI layer over linear memory: requests and answers travel as
//! UTF-8 JSON text, with no binding generator.
//!
//! All the format's logic stays in `latchkey-guest-code` (`mint`, `check`, `timing`, the file
//! parsers). What this crate adds is what the CLI adds around it: choosing the lock id, the
//! CLI's error messages and notes, and what an offline device must do that the stateless CLI
//! does not: widen a window by an hour when its code was already given out
//! (`docs/guest-codes.md`, "Identical requests"). It never reads a clock: `now` is an input.

use latchkey_guest_code::file::{IssuerFile, SecretFile};
use latchkey_guest_code::{
    Check, Code, HOUR, LEAD_HOURS, MAX_HOURS, MAX_LOCK_ID, MintError, Timing, Validity, check, mint, timing,
};
use serde::{Deserialize, Serialize};

// The exports need `#[unsafe(no_mangle)]` (their names are the ABI; all start with `lk_`). There
// is no other unsafe code: the buffers are `Vec`s that JavaScript writes through their address.
#[allow(unsafe_code)]
pub mod abi;

/// Why a request was refused: `kind` is stable (for programs and translations); `message` is
/// the English text, the same as the CLI's where the CLI has one (the CLI's version names its
/// flags, `--start`, where this one says "the start").
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// One of `issuer-file`, `secret-file`, `lock-id-too-long`, `wrong-lock`, `no-lock`,
    /// `empty-window`, `window-too-long`, `start-out-of-range`, `bad-taken`, `all-taken`,
    /// `slot-not-active`, `bad-request`.
    pub kind: &'static str,
    /// One line of English.
    pub message: String,
}

fn fail(kind: &'static str, message: impl Into<String>) -> Failure {
    Failure {
        kind,
        message: message.into(),
    }
}

/// What an issuer file says, without its key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuerInfo {
    /// Who the issuer is (the server's id of the device's issuer).
    pub issuer_id: String,
    /// The lock the key is for; `None` for a file written by `latchkey guest-code keygen`.
    pub lock_id: Option<String>,
    /// The issuer slot, 0..=7.
    pub slot: u8,
    /// The epoch the key was derived for.
    pub epoch: u32,
}

/// Reads and validates an issuer file (`latchkey-issuer/1`).
pub fn parse_issuer(text: &str) -> Result<IssuerInfo, Failure> {
    let f = IssuerFile::parse(text).map_err(|e| fail("issuer-file", e.to_string()))?;
    Ok(IssuerInfo {
        issuer_id: f.issuer_id,
        lock_id: f.lock_id,
        slot: f.slot,
        epoch: f.epoch,
    })
}

/// What [`mint_code`] is asked: the CLI's `mint` arguments, plus the clock and the codes this
/// issuer already gave out.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MintRequest {
    /// The issuer file's text.
    pub issuer: String,
    /// The lock id; may be left out when the file names the lock, must match it when both do.
    #[serde(default)]
    pub lock: Option<String>,
    /// The guest's window `[start, end)`, Unix seconds.
    pub start: i64,
    /// End of the window (exclusive), Unix seconds.
    pub end: i64,
    /// The lock accepts the code once.
    #[serde(default)]
    pub one_time: bool,
    /// The device's clock, Unix seconds (only for the warnings).
    pub now: i64,
    /// Every code this issuer file ever minted (revoked and expired ones too): a new code must
    /// differ from all of them.
    #[serde(default)]
    pub taken: Vec<String>,
}

/// How the code's window was widened beyond the rounded-out window to keep the code distinct.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Widened {
    /// Not widened: the Admin's window rounded out to whole hours.
    None,
    /// One hour later at the end.
    End,
    /// One hour earlier at the start.
    Start,
    /// One hour at both ends.
    Both,
}

/// Something the person minting should be told; the code is still good.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// `ended` (the window is over) or `not-recognised-yet` (a lock answers "unknown
    /// credential" until `at`).
    pub kind: &'static str,
    /// The instant the warning is about (Unix seconds), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
    /// The CLI's text for it (without its `warning:`/`note:` prefix).
    pub message: String,
}

/// A minted code and the window it carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Minted {
    /// The 12 digits.
    pub code: String,
    /// The lock it opens.
    pub lock_id: String,
    /// The issuer slot that made it.
    pub slot: u8,
    /// The issuer's epoch.
    pub epoch: u32,
    /// Whether the lock accepts it once.
    pub one_time: bool,
    /// The code's own window, Unix seconds, on whole hours.
    pub start: i64,
    /// End of the code's window (exclusive).
    pub end: i64,
    /// Its length in hours, 1..=168.
    pub hours: u16,
    /// Whether the code's window differs from the requested one.
    pub rounded: bool,
    /// Whether (and where) the window was widened because its code was taken.
    pub widened: Widened,
    /// What to tell the person minting.
    pub warnings: Vec<Warning>,
}

/// Mints a window code for `req`, as `latchkey guest-code mint` does, with the same errors;
/// with `taken` codes, widens the window as the server does (`docs/guest-codes.md`,
/// "Identical requests"). An offline device cannot make held keys, so when every allowed
/// window's code is taken the answer is `all-taken`.
pub fn mint_code(req: &MintRequest) -> Result<Minted, Failure> {
    if let Some(lock) = &req.lock
        && lock.len() > MAX_LOCK_ID
    {
        return Err(fail(
            "lock-id-too-long",
            format!("a lock id is at most {MAX_LOCK_ID} bytes"),
        ));
    }
    let issuer = IssuerFile::parse(&req.issuer).map_err(|e| fail("issuer-file", e.to_string()))?;
    let lock = match (&req.lock, &issuer.lock_id) {
        (Some(given), Some(named)) if given != named => {
            return Err(fail(
                "wrong-lock",
                format!("the issuer file is for lock {named:?}, not {given:?}"),
            ));
        }
        (Some(lock), _) | (None, Some(lock)) => lock.clone(),
        (None, None) => return Err(fail("no-lock", "the issuer file names no lock: give the lock's id")),
    };
    let (start, end) = (req.start, req.end);
    if end <= start {
        return Err(fail(
            "empty-window",
            format!(
                "the end ({}) must be after the start ({})",
                instant(end),
                instant(start)
            ),
        ));
    }
    let covering = Validity::covering(start, end).map_err(|e| match e {
        MintError::BadLength => {
            let hours = (end - start.div_euclid(HOUR) * HOUR + HOUR - 1) / HOUR;
            fail(
                "window-too-long",
                format!(
                    "the window is {hours} hours once rounded out to whole hours; a guest code carries at \
                     most {MAX_HOURS} hours (7 days): longer stays need a key the lock holds, made by the server"
                ),
            )
        }
        MintError::StartOutOfRange if start < 0 => fail(
            "start-out-of-range",
            "the start must not be before 1970-01-01T00:00:00Z",
        ),
        other => fail("start-out-of-range", other.to_string()),
    })?;
    let taken = req
        .taken
        .iter()
        .map(|t| {
            Code::parse(t.as_bytes()).ok_or_else(|| fail("bad-taken", format!("taken: {t:?} is not a 12-digit code")))
        })
        .collect::<Result<Vec<Code>, Failure>>()?;

    let (from, to) = covering.window_secs().unwrap_or((start, end));
    let (first_hour, last_hour) = (from / HOUR, to / HOUR);
    for (widened, ds, de) in [
        (Widened::None, 0, 0),
        (Widened::End, 0, 1),
        (Widened::Start, 1, 0),
        (Widened::Both, 1, 1),
    ] {
        // As the server's `mint_unique`: never more than an hour beyond the Admin's window at
        // either end, at most MAX_HOURS long.
        let (s, e) = (first_hour - ds, last_hour + de);
        let hours = e - s;
        if start - s * HOUR > HOUR || e * HOUR - end > HOUR || hours > i64::from(MAX_HOURS) {
            continue;
        }
        let Ok(start_hour) = u32::try_from(s) else {
            continue;
        };
        let validity = Validity::Window {
            start_hour,
            hours: hours as u16,
        };
        let code = mint(
            &issuer.key,
            lock.as_bytes(),
            issuer.slot,
            issuer.epoch,
            validity,
            req.one_time,
        )
        .map_err(|e| fail("bad-request", e.to_string()))?;
        if taken.contains(&code) {
            continue;
        }
        let (from, to) = (s * HOUR, e * HOUR);
        return Ok(Minted {
            code: code.to_string(),
            lock_id: lock,
            slot: issuer.slot,
            epoch: issuer.epoch,
            one_time: req.one_time,
            start: from,
            end: to,
            hours: hours as u16,
            rounded: (from, to) != (start, end),
            widened,
            warnings: warnings(from, to, req.now),
        });
    }
    Err(fail(
        "all-taken",
        "this issuer already gave out the code for this window and for each allowed widening of it by an \
         hour; choose another window",
    ))
}

/// The CLI's warning and note after minting.
fn warnings(from: i64, to: i64, now: i64) -> Vec<Warning> {
    let lead = i64::from(LEAD_HOURS) * HOUR;
    if to <= now {
        vec![Warning {
            kind: "ended",
            at: None,
            message: "this window has already ended".into(),
        }]
    } else if from - lead > now {
        vec![Warning {
            kind: "not-recognised-yet",
            at: Some(from - lead),
            message: format!(
                "until {} a lock answers \"unknown credential\" for this code (it recognises codes at most \
                 {LEAD_HOURS} hours ahead); it works inside its window",
                instant(from - lead)
            ),
        }]
    } else {
        Vec::new()
    }
}

/// What [`check_code`] is asked: the CLI's `verify` arguments and one entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckRequest {
    /// A lock secret file's text (`latchkey-lock-secret/1`).
    pub secret: String,
    /// The lock's id.
    pub lock: String,
    /// The entry, as typed (surrounding white space and one trailing `#` are ignored).
    pub code: String,
    /// The lock's clock, Unix seconds.
    pub at: i64,
}

/// A lock's answer to one entry, as `latchkey guest-code verify` gives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// `granted` or `denied`.
    pub verdict: &'static str,
    /// For a denial: `unknown-credential`, `not-yet-valid`, `expired` or `revoked`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// For a grant: the issuer slot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<u8>,
    /// For a granted window code: its window, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<i64>,
    /// End of that window (exclusive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<i64>,
    /// For a granted held code: its serial.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<u16>,
    /// For a grant: whether the code is one-time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub one_time: Option<bool>,
    /// The CLI's verdict line.
    pub line: String,
}

/// Checks one entry as `latchkey guest-code verify` does (statelessly: no used-code table,
/// deny entries or synced records).
pub fn check_code(req: &CheckRequest) -> Result<Verdict, Failure> {
    if req.lock.len() > MAX_LOCK_ID {
        return Err(fail(
            "lock-id-too-long",
            format!("a lock id is at most {MAX_LOCK_ID} bytes"),
        ));
    }
    let secret = SecretFile::parse(&req.secret).map_err(|e| fail("secret-file", e.to_string()))?;
    let entry = req.code.as_bytes().trim_ascii();
    let entry = entry.strip_suffix(b"#").unwrap_or(entry).trim_ascii_end();
    let now = req.at;
    let denied = |reason: &'static str| Verdict {
        verdict: "denied",
        reason: Some(reason),
        slot: None,
        start: None,
        end: None,
        serial: None,
        one_time: None,
        line: format!("denied {reason}"),
    };
    Ok(match check(entry, req.lock.as_bytes(), &secret.issuer_states(), now) {
        Check::Unknown => denied("unknown-credential"),
        Check::Revoked { .. } => denied("revoked"),
        Check::Genuine {
            slot,
            validity,
            one_time,
            ..
        } => match (validity, timing(validity, now)) {
            (Validity::Held { serial }, _) => Verdict {
                verdict: "granted",
                reason: None,
                slot: Some(slot),
                start: None,
                end: None,
                serial: Some(serial),
                one_time: Some(one_time),
                line: format!("granted slot={slot} held serial={serial} one_time={one_time}"),
            },
            (_, Timing::NotYetValid) => denied("not-yet-valid"),
            (_, Timing::Expired) => denied("expired"),
            (v, Timing::Valid) => {
                let (start, end) = v.window_secs().unwrap_or((0, 0));
                Verdict {
                    verdict: "granted",
                    reason: None,
                    slot: Some(slot),
                    start: Some(start),
                    end: Some(end),
                    serial: None,
                    one_time: Some(one_time),
                    line: format!(
                        "granted slot={slot} start={} end={} one_time={one_time}",
                        instant(start),
                        instant(end)
                    ),
                }
            }
        },
    })
}

/// What [`issuer_file_from_secret`] is asked (for tools and tests: a browser never holds a
/// root secret).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssuerFileRequest {
    /// A lock secret file's text.
    pub secret: String,
    /// An active slot of that file.
    pub slot: u8,
    /// The issuer id to write.
    pub issuer_id: String,
    /// The lock id to write, or none.
    #[serde(default)]
    pub lock: Option<String>,
}

/// The issuer file of an active slot of a lock secret file, as `latchkey guest-code keygen`
/// writes it.
pub fn issuer_file_from_secret(req: &IssuerFileRequest) -> Result<String, Failure> {
    let secret = SecretFile::parse(&req.secret).map_err(|e| fail("secret-file", e.to_string()))?;
    let file = secret
        .issuer_file(req.slot, &req.issuer_id, req.lock.as_deref())
        .ok_or_else(|| {
            fail(
                "slot-not-active",
                format!("slot {} is not active in the lock secret file", req.slot),
            )
        })?;
    let text = file.to_json();
    // Only ever hand out a file that reads back (issuer id and lock id lengths).
    IssuerFile::parse(&text).map_err(|e| fail("issuer-file", e.to_string()))?;
    Ok(text)
}

/// Unix seconds as the CLI prints them: RFC 3339 in UTC (`2025-03-01T10:00:00Z`), or
/// `@SECONDS` outside the range of instants the CLI's time library holds.
pub fn instant(secs: i64) -> String {
    // jiff's `Timestamp::MIN` and `Timestamp::MAX`, in whole seconds.
    const MIN: i64 = -377_705_023_201;
    const MAX: i64 = 253_402_207_200;
    if !(MIN..=MAX).contains(&secs) {
        return format!("@{secs}");
    }
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let (hh, mm, ss) = (s / 3600, s / 60 % 60, s % 60);
    if y < 0 {
        format!("-{:06}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z", -y)
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
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

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_guest_code::file::SlotEpoch;
    use latchkey_guest_code::{ISSUER_SLOTS, RootSecret};

    fn lock_secret() -> SecretFile {
        SecretFile {
            secret: RootSecret(core::array::from_fn(|i| (i as u8).wrapping_mul(29) ^ 0x5a)),
            issuers: vec![SlotEpoch { slot: 0, epoch: 1 }, SlotEpoch { slot: 2, epoch: 9 }],
            revoked: Vec::new(),
        }
    }

    fn issuer(lock: Option<&str>) -> String {
        lock_secret()
            .issuer_file(2, "dev-1", lock)
            .expect("slot 2 is active")
            .to_json()
    }

    fn req(start: i64, end: i64) -> MintRequest {
        MintRequest {
            issuer: issuer(Some("door")),
            lock: None,
            start,
            end,
            one_time: false,
            now: 1_900_000_000,
            taken: Vec::new(),
        }
    }

    const H: i64 = 1_900_000_800; // an hour boundary, 2030-03-17T18:00:00Z
    const T: i64 = H + 1200; // 20 minutes past it

    fn granted(m: &Minted, at: i64) -> bool {
        let table: [_; ISSUER_SLOTS] = lock_secret().issuer_states();
        matches!(check(m.code.as_bytes(), b"door", &table, at), Check::Genuine { validity, .. }
            if validity.window_secs() == Some((m.start, m.end)))
    }

    #[test]
    fn instants_print_as_the_cli_prints_them() {
        // Against the CLI's time library itself.
        let edges = [
            -377_705_116_800,
            -377_705_023_202,
            -377_705_023_201,
            -62_135_596_801,
            -1,
            0,
            1,
            951_868_799,
            1_740_823_200,
            4_102_444_800,
            253_402_207_200,
            253_402_207_201,
            i64::MAX,
            i64::MIN,
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let sample = (0..20_000).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 631_107_324_001) as i64 - 377_705_116_800
        });
        for secs in edges.into_iter().chain(sample) {
            let want = match jiff::Timestamp::from_second(secs) {
                Ok(t) => t.to_string(),
                Err(_) => format!("@{secs}"),
            };
            assert_eq!(instant(secs), want, "{secs}");
        }
    }

    #[test]
    fn mint_rounds_out_and_the_lock_agrees() {
        let m = mint_code(&req(T, T + 3600)).expect("mints");
        assert_eq!((m.start, m.end, m.hours), (H, H + 7200, 2));
        assert!(m.rounded);
        assert_eq!(m.widened, Widened::None);
        assert_eq!((m.lock_id.as_str(), m.slot, m.epoch), ("door", 2, 9));
        assert!(granted(&m, T));
        assert!(m.warnings.is_empty());
        let exact = mint_code(&req(H, H + 3600)).expect("mints");
        assert!(!exact.rounded);
    }

    #[test]
    fn taken_codes_widen_the_window_as_the_server_does() {
        // On whole hours both ends may move: the exact window, then an hour at the end, at the
        // start, at both; then nothing is left.
        let mut r = req(H, H + 5 * 3600);
        let mut seen = Vec::new();
        for (want, from, to) in [
            (Widened::None, H, H + 5 * 3600),
            (Widened::End, H, H + 6 * 3600),
            (Widened::Start, H - 3600, H + 5 * 3600),
            (Widened::Both, H - 3600, H + 6 * 3600),
        ] {
            let m = mint_code(&r).expect("a free window");
            assert_eq!((m.widened, m.start, m.end), (want, from, to));
            assert!(granted(&m, H) && !seen.contains(&m.code));
            seen.push(m.code.clone());
            r.taken.push(m.code);
        }
        assert_eq!(mint_code(&r).map(|_| ()).unwrap_err().kind, "all-taken");

        // Off the hour at the start: only the end may move.
        let mut r = req(T, H + 5 * 3600);
        let first = mint_code(&r).expect("mints");
        r.taken.push(first.code.clone());
        let second = mint_code(&r).expect("mints");
        assert_eq!(
            (second.widened, second.start, second.end),
            (Widened::End, H, H + 6 * 3600)
        );
        r.taken.push(second.code);
        assert_eq!(mint_code(&r).map(|_| ()).unwrap_err().kind, "all-taken");

        // 168 hours cannot grow.
        let mut r = req(H, H + 168 * 3600);
        r.taken.push(mint_code(&r).expect("mints").code);
        assert_eq!(mint_code(&r).map(|_| ()).unwrap_err().kind, "all-taken");

        // At the epoch, the start cannot move earlier.
        let mut r = req(0, 3600);
        r.taken.push(mint_code(&r).expect("mints").code);
        let m = mint_code(&r).expect("mints");
        assert_eq!((m.widened, m.start, m.end), (Widened::End, 0, 7200));
        r.taken.push(m.code);
        assert_eq!(mint_code(&r).map(|_| ()).unwrap_err().kind, "all-taken");
    }

    #[test]
    fn bad_requests_are_refused_with_the_clis_words() {
        let kind = |r: &MintRequest| mint_code(r).map(|_| ()).unwrap_err();
        let mut r = req(T, T);
        assert_eq!(
            kind(&r).message,
            "the end (2030-03-17T18:20:00Z) must be after the start (2030-03-17T18:20:00Z)"
        );
        r.end = H + 168 * 3600 + 1;
        assert_eq!(kind(&r).kind, "window-too-long");
        assert!(
            kind(&r).message.starts_with("the window is 169 hours"),
            "{:?}",
            kind(&r)
        );
        let mut r = req(-3600, 0);
        assert_eq!(kind(&r).message, "the start must not be before 1970-01-01T00:00:00Z");
        r = req(i64::from(u32::MAX) * 3600 + 3600, i64::from(u32::MAX) * 3600 + 7200);
        assert_eq!(kind(&r).message, "window start out of range (1970 to year 491,936)");
        r = req(H, H + 3600);
        r.lock = Some("x".repeat(65));
        assert_eq!(kind(&r).kind, "lock-id-too-long");
        r.lock = Some("back-door".into());
        assert_eq!(
            kind(&r).message,
            r#"the issuer file is for lock "door", not "back-door""#
        );
        r.lock = None;
        r.issuer = issuer(None);
        assert_eq!(kind(&r).kind, "no-lock");
        r.lock = Some("back-door".into());
        assert!(mint_code(&r).is_ok());
        r.taken = vec!["12345".into()];
        assert_eq!(kind(&r).message, r#"taken: "12345" is not a 12-digit code"#);
        r.issuer = "{}".into();
        assert_eq!(
            kind(&r).message,
            r#"issuer file: no format field (expected "latchkey-issuer/1")"#
        );
    }

    #[test]
    fn warnings_are_the_clis() {
        let mut r = req(H, H + 3600);
        r.now = H + 3600;
        assert_eq!(mint_code(&r).expect("mints").warnings[0].kind, "ended");
        r.now = H - 176 * 3600;
        assert!(mint_code(&r).expect("mints").warnings.is_empty());
        r.now -= 1;
        let w = &mint_code(&r).expect("mints").warnings[0];
        assert_eq!((w.kind, w.at), ("not-recognised-yet", Some(H - 176 * 3600)));
        assert!(
            w.message.starts_with("until 2030-03-10T10:00:00Z a lock answers"),
            "{w:?}"
        );
    }

    #[test]
    fn check_reads_entries_as_verify_does() {
        let m = mint_code(&req(H, H + 3600)).expect("mints");
        let secret = lock_secret().to_json();
        let verdict = |code: &str, at: i64| {
            check_code(&CheckRequest {
                secret: secret.clone(),
                lock: "door".into(),
                code: code.into(),
                at,
            })
            .expect("a verdict")
        };
        let v = verdict(&format!("  {}# \n", m.code), H);
        assert_eq!(v.verdict, "granted");
        assert_eq!(
            v.line,
            "granted slot=2 start=2030-03-17T18:00:00Z end=2030-03-17T19:00:00Z one_time=false"
        );
        assert_eq!((v.start, v.end, v.slot), (Some(H), Some(H + 3600), Some(2)));
        assert_eq!(verdict(&m.code, H + 3600).line, "denied expired");
        assert_eq!(verdict(&format!("{}##", m.code), H).line, "denied unknown-credential");
    }

    #[test]
    fn issuer_files_from_a_secret_read_back() {
        let secret = lock_secret().to_json();
        let r = |slot: u8, id: &str| IssuerFileRequest {
            secret: secret.clone(),
            slot,
            issuer_id: id.into(),
            lock: Some("door".into()),
        };
        let text = issuer_file_from_secret(&r(2, "a")).expect("slot 2 is active");
        assert_eq!(text, issuer(Some("door")).replace("dev-1", "a"));
        assert_eq!(issuer_file_from_secret(&r(3, "a")).unwrap_err().kind, "slot-not-active");
        assert_eq!(issuer_file_from_secret(&r(2, "")).unwrap_err().kind, "issuer-file");
    }
}

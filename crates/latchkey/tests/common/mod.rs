//! What the binary's end-to-end tests share: free ports, child processes killed on drop,
//! polling with a deadline, signing in with the code from the SMS outbox.

#![allow(dead_code)] // each test binary uses its own part

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use latchkey_client::Client;
use serde_json::Value;

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A child process of the built `latchkey`, killed (SIGKILL) when dropped; its stderr goes to
/// `stderr_file` so a failure can show it.
pub struct Proc {
    pub child: Child,
    pub stderr_file: PathBuf,
}

impl Proc {
    pub fn spawn(args: &[String], stderr_file: PathBuf, stdout: std::process::Stdio) -> Proc {
        let child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .args(args)
            .env("LATCHKEY_LOG", "warn")
            .stdout(stdout)
            .stderr(std::fs::File::create(&stderr_file).expect("stderr file"))
            .spawn()
            .expect("run latchkey");
        Proc { child, stderr_file }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_file).unwrap_or_default()
    }

    /// Kills the process at once, as a power cut or `kill -9` would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `f` until it returns `Some`, for at most `secs` seconds.
pub async fn eventually<T, F, Fut>(what: &str, secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sign_in_lines(outbox: &Path, phone: &str) -> Vec<String> {
    std::fs::read_to_string(outbox)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(phone) && l.contains("sign-in code"))
        .map(str::to_string)
        .collect()
}

/// Signs `phone` in with the code the server wrote to its SMS outbox.
pub async fn sign_in(api: &Client, outbox: &Path, phone: &str) -> Client {
    let before = sign_in_lines(outbox, phone).len();
    api.request_otp(phone).await.expect("request a sign-in code");
    let line = eventually("the sign-in SMS", 10, || async {
        let all = sign_in_lines(outbox, phone);
        (all.len() > before).then(|| all.last().cloned().unwrap())
    })
    .await;
    let msg: Value = serde_json::from_str(&line).unwrap();
    let code: String = msg["body"]
        .as_str()
        .unwrap()
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a 6-digit code")
        .to_string();
    let session = api.create_session(phone, &code).await.expect("sign in");
    api.with_token(session.token)
}

/// Keys typed on a virtual lock's keypad (control port at `control`); its answer.
pub async fn keypad(http: &reqwest::Client, control: &str, keys: &str) -> Option<Value> {
    http.post(format!("{control}/keypad"))
        .json(&serde_json::json!({ "keys": keys }))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// A virtual lock's `/status`.
pub async fn status(http: &reqwest::Client, control: &str) -> Option<Value> {
    http.get(format!("{control}/status"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// A running `latchkey up`; killed when dropped.
pub struct Up {
    pub proc: Proc,
    /// What it printed on stdout up to the welcome's last line.
    pub welcome: String,
}

/// The ports of a `latchkey up`: HTTP, the embedded broker, the virtual lock's control port.
pub struct Ports {
    pub http: u16,
    pub mqtt: u16,
    pub control: u16,
}

impl Ports {
    pub fn free() -> Ports {
        Ports {
            http: free_port(),
            mqtt: free_port(),
            control: free_port(),
        }
    }
}

/// Starts `latchkey up` on `data` (SMS to `data/outbox.jsonl`, lock "Front door" in
/// Europe/Berlin paired to `owner`) and waits for its welcome.
pub fn start_up(data: &Path, p: &Ports, owner: &str) -> Up {
    start_up_with(data, p, owner, &[])
}

/// [`start_up`] with more options of `serve` (`--allow-private-targets`, ...).
pub fn start_up_with(data: &Path, p: &Ports, owner: &str, more: &[&str]) -> Up {
    let outbox = data.join("outbox.jsonl");
    let mut args: Vec<String> = vec![
        "up".into(),
        "--owner".into(),
        owner.into(),
        "--time-zone".into(),
        "Europe/Berlin".into(),
        "--data-dir".into(),
        data.display().to_string(),
        "--http".into(),
        format!("127.0.0.1:{}", p.http),
        "--mqtt".into(),
        format!("embedded://127.0.0.1:{}", p.mqtt),
        "--lock-control".into(),
        format!("127.0.0.1:{}", p.control),
        "--sms".into(),
        format!("file:{}", outbox.display()),
        "--public-url".into(),
        format!("http://127.0.0.1:{}", p.http),
    ];
    args.extend(more.iter().map(|a| a.to_string()));
    let mut proc = Proc::spawn(&args, data.with_extension("stderr"), Stdio::piped());
    let stdout = proc.child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut welcome = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                welcome.push_str(&line);
                welcome.push('\n');
                if line.contains("Stop with Ctrl-C") {
                    break;
                }
            }
            Err(_) => {
                proc.kill();
                panic!(
                    "no welcome from latchkey up within 60 s; stdout:\n{welcome}\nstderr:\n{}",
                    proc.stderr()
                );
            }
        }
    }
    Up { proc, welcome }
}

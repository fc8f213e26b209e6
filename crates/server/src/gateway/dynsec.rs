//! Per-lock logins and topic rules on an external Mosquitto, through its dynamic-security
//! plugin (`mqtt_dynsec`, `docs/design/broker-auth.md`): the server, logged in as a dynsec
//! admin, sends the plugin's commands to `$CONTROL/dynamic-security/v1` and reads its answers
//! on `.../response`. At each connection it (re)creates the `pairing` login and its role and
//! makes sure its own login has the server's role; when a lock pairs it creates a role and a
//! client for it (its lock id, the password derived from its root secret, its client id
//! `lk-{serial}`); when a lock is unpaired it deletes them. The rules are those of the embedded
//! broker (`broker.rs`).
//!
//! Every command carries a `correlationData` of this instance's own, and the plugin answers
//! each one, with an `error` when it failed. A [`Provisioner`] sends the batches one at a time,
//! in order, waits for every answer, and judges them: an error that means the goal is met
//! already (creating a role that exists, deleting a client that does not) is fine; any other
//! error, or no answer within [`Retry::answer_timeout`] (the plugin is not loaded, or the
//! server's login is no dynsec admin), fails the attempt, which is retried with a doubling
//! backoff and, after [`Retry::attempts`], given up with an error in the log. Failed attempts
//! are counted (`latchkey_broker_provisioning_failures_total` on `/metrics`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use latchkey_protocol::{broker, topics};
use prometheus_client::metrics::counter::Counter;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};

/// Where the plugin reads its commands.
pub const CONTROL_TOPIC: &str = "$CONTROL/dynamic-security/v1";
/// Where it answers them.
pub const RESPONSE_TOPIC: &str = "$CONTROL/dynamic-security/v1/response";
const SERVER_ROLE: &str = "latchkey-server";
const PAIRING_ROLE: &str = "latchkey-pairing";

/// The plugin's errors that mean the command's goal is met already.
const EXISTS_ROLE: &[&str] = &["Role already exists"];
const EXISTS_CLIENT: &[&str] = &["Client already exists"];
const GONE_ROLE: &[&str] = &["Role not found"];
const GONE_CLIENT: &[&str] = &["Client not found"];

fn acl(acltype: &str, topic: &str) -> Value {
    json!({ "acltype": acltype, "topic": topic, "priority": 0, "allow": true })
}

fn lock_role(lock_id: &str) -> String {
    format!("latchkey-lock-{lock_id}")
}

/// One command and the errors that mean its goal is met already.
#[derive(Debug, Clone)]
struct Command {
    body: Value,
    fine: &'static [&'static str],
}

fn command(body: Value, fine: &'static [&'static str]) -> Command {
    Command { body, fine }
}

/// Commands sent together, and what they are for (in the log).
#[derive(Debug, Clone)]
pub struct Batch {
    what: String,
    commands: Vec<Command>,
    /// After the commands: make sure this client has this role (`getClient`, then
    /// `addClientRole` only when it is missing, since adding a role disconnects the client
    /// and Mosquitto 2.0 answers a second one with "Internal error").
    ensure_role: Option<(String, &'static str)>,
}

impl Batch {
    /// The JSON the plugin reads, each command with its correlation id.
    fn payload(commands: &[Command], ids: &[String]) -> Vec<u8> {
        let commands: Vec<Value> = commands
            .iter()
            .zip(ids)
            .map(|(c, id)| {
                let mut body = c.body.clone();
                if let Some(o) = body.as_object_mut() {
                    o.insert("correlationData".into(), Value::String(id.clone()));
                }
                body
            })
            .collect();
        json!({ "commands": commands }).to_string().into_bytes()
    }
}

/// The commands that set up the pairing login and the server's own rights; `server_user` is
/// the server's login (a dynsec admin).
pub fn setup(server_user: &str) -> Batch {
    Batch {
        what: "the pairing login and the server's role".into(),
        commands: vec![
            command(
                json!({ "command": "createRole", "rolename": SERVER_ROLE, "acls": [
                    acl("subscribePattern", "latchkey/#"),
                    acl("subscribePattern", "$share/#"),
                    acl("publishClientSend", "latchkey/#"),
                    acl("publishClientReceive", "latchkey/#"),
                ]}),
                EXISTS_ROLE,
            ),
            command(
                json!({ "command": "createRole", "rolename": PAIRING_ROLE, "acls": [
                    acl("subscribePattern", "latchkey/v1/pair/+/down"),
                    acl("publishClientSend", "latchkey/v1/pair/+/up"),
                    acl("publishClientReceive", "latchkey/v1/pair/+/down"),
                ]}),
                EXISTS_ROLE,
            ),
            command(
                json!({ "command": "createClient", "username": broker::PAIRING_USERNAME,
                        "password": broker::PAIRING_PASSWORD,
                        "roles": [{ "rolename": PAIRING_ROLE, "priority": 0 }] }),
                EXISTS_CLIENT,
            ),
        ],
        ensure_role: Some((server_user.to_string(), SERVER_ROLE)),
    }
}

/// The commands that give a newly paired lock its login and its two topics (replacing any
/// left from an earlier pairing under the same id, so that a repeated batch does the same).
pub fn lock_paired(lock_id: &str, serial: &str, root_secret: &[u8; 32]) -> Option<Batch> {
    let (down, up) = (topics::lock_down(lock_id)?, topics::lock_up(lock_id)?);
    let role = lock_role(lock_id);
    let password = broker::lock_password(&latchkey_lock_core::RootSecret(*root_secret), lock_id);
    Some(Batch {
        what: format!("the login of lock {lock_id}"),
        commands: vec![
            command(json!({ "command": "deleteClient", "username": lock_id }), GONE_CLIENT),
            command(json!({ "command": "deleteRole", "rolename": role }), GONE_ROLE),
            command(
                json!({ "command": "createRole", "rolename": role, "acls": [
                    acl("subscribeLiteral", down.as_str()),
                    acl("publishClientReceive", down.as_str()),
                    acl("publishClientSend", up.as_str()),
                ]}),
                &[],
            ),
            command(
                json!({ "command": "createClient", "username": lock_id, "password": password.as_str(),
                        "clientid": super::broker::lock_client_id(serial),
                        "roles": [{ "rolename": role, "priority": 0 }] }),
                &[],
            ),
        ],
        ensure_role: None,
    })
}

/// The commands that remove an unpaired lock's login and role.
pub fn lock_unpaired(lock_id: &str) -> Batch {
    Batch {
        what: format!("the removal of lock {lock_id}'s login"),
        commands: vec![
            command(json!({ "command": "deleteClient", "username": lock_id }), GONE_CLIENT),
            command(
                json!({ "command": "deleteRole", "rolename": lock_role(lock_id) }),
                GONE_ROLE,
            ),
        ],
        ensure_role: None,
    }
}

/// Whether `answer` (one entry of the plugin's `responses`) means `c` did its job.
fn judge(c: &Command, answer: &Value) -> Result<(), String> {
    let name = c.body["command"].as_str().unwrap_or("?");
    match answer.get("error") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(e)) if c.fine.contains(&e.as_str()) => Ok(()),
        Some(e) => Err(format!(
            "{name}: {}",
            e.as_str().map_or_else(|| e.to_string(), str::to_string)
        )),
    }
}

/// Whether a `getClient` answer lists `role` among the client's roles.
fn has_role(answer: &Value, role: &str) -> bool {
    answer["data"]["client"]["roles"]
        .as_array()
        .is_some_and(|roles| roles.iter().any(|r| r["rolename"] == role))
}

/// The timing of provisioning: how long to wait for answers, how often to try.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub answer_timeout: Duration,
    /// The pause after the first failed attempt; it doubles after each.
    pub first_backoff: Duration,
    pub attempts: u32,
}

impl Default for Retry {
    /// 5 s for the answers; six attempts over about a minute.
    fn default() -> Self {
        Retry {
            answer_timeout: Duration::from_secs(5),
            first_backoff: Duration::from_secs(1),
            attempts: 6,
        }
    }
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// The plugin refused a command.
    Refused(String),
    /// Not every answer came in time.
    NoAnswer,
    /// The command could not be handed to the MQTT client.
    NotSent(String),
    /// The server's login was just given its role (which disconnects it): check again.
    RoleAdded,
}

/// Sends dynamic-security batches one at a time, in order, and reads the plugin's answers.
pub struct Provisioner {
    /// The server's login, which [`setup`] gives the server's role.
    server_user: String,
    /// This instance's prefix of correlation ids (its client id: answers to other instances'
    /// commands are not its own).
    tag: String,
    next: AtomicU64,
    waiting: Mutex<HashMap<String, oneshot::Sender<Value>>>,
    queue: mpsc::UnboundedSender<Batch>,
    retry: Retry,
    /// Failed attempts (`latchkey_broker_provisioning_failures_total`).
    failures: Counter,
}

impl std::fmt::Debug for Provisioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provisioner")
            .field("server_user", &self.server_user)
            .finish()
    }
}

fn guard<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Provisioner {
    /// A provisioner and the queue its [`Provisioner::run`] task reads.
    pub fn new(
        server_user: String,
        tag: String,
        retry: Retry,
        failures: Counter,
    ) -> (std::sync::Arc<Provisioner>, mpsc::UnboundedReceiver<Batch>) {
        let (queue, rx) = mpsc::unbounded_channel();
        let p = Provisioner {
            server_user,
            tag,
            next: AtomicU64::new(0),
            waiting: Mutex::new(HashMap::new()),
            queue,
            retry,
            failures,
        };
        (std::sync::Arc::new(p), rx)
    }

    /// Queues a batch (after those queued before it).
    pub fn submit(&self, batch: Batch) {
        if self.queue.send(batch).is_err() {
            tracing::warn!("dynamic-security provisioning has stopped; a batch was not sent");
        }
    }

    /// Queues the setup of the pairing login and the server's role (at each connection).
    pub fn submit_setup(&self) {
        self.submit(setup(&self.server_user));
    }

    /// Hands the plugin's answers (a message on [`RESPONSE_TOPIC`]) to the attempts waiting
    /// for them; answers to other instances' commands are ignored.
    pub fn on_response(&self, payload: &[u8]) {
        let Ok(v) = serde_json::from_slice::<Value>(payload) else {
            tracing::warn!("an answer of the dynamic-security plugin that is not JSON");
            return;
        };
        let Some(responses) = v["responses"].as_array() else {
            tracing::warn!("an answer of the dynamic-security plugin without responses: {v}");
            return;
        };
        let mut waiting = guard(&self.waiting);
        for r in responses {
            if let Some(tx) = r["correlationData"].as_str().and_then(|id| waiting.remove(id)) {
                let _ = tx.send(r.clone());
            }
        }
    }

    /// Sends the batches in order until `shutdown`, each until it succeeds or its attempts run
    /// out; `send` publishes a payload on [`CONTROL_TOPIC`].
    pub async fn run(
        &self,
        mut batches: mpsc::UnboundedReceiver<Batch>,
        send: impl Fn(Vec<u8>) -> Result<(), String>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            let batch = tokio::select! {
                _ = async { shutdown.wait_for(|s| *s).await.map(|_| ()) } => return,
                b = batches.recv() => match b {
                    Some(b) => b,
                    None => return,
                },
            };
            tokio::select! {
                _ = async { shutdown.wait_for(|s| *s).await.map(|_| ()) } => return,
                _ = self.provision(&batch, &send) => {}
            }
        }
    }

    /// One batch, retried: `Ok` once every command did its job, else the last failure.
    async fn provision(&self, batch: &Batch, send: &impl Fn(Vec<u8>) -> Result<(), String>) -> Result<(), String> {
        let mut backoff = self.retry.first_backoff;
        let mut attempt = 0;
        let mut role_added = false;
        loop {
            attempt += 1;
            let failure = match self.attempt(batch, send).await {
                Ok(()) => {
                    tracing::debug!("provisioned {} on Mosquitto's dynamic-security plugin", batch.what);
                    return Ok(());
                }
                // Adding the role disconnected us: check again, once, without counting it.
                Err(Failure::RoleAdded) if !role_added => {
                    role_added = true;
                    attempt -= 1;
                    tracing::info!(
                        "gave the server's login {} the role {SERVER_ROLE} on Mosquitto",
                        self.server_user
                    );
                    tokio::time::sleep(self.retry.first_backoff).await;
                    continue;
                }
                Err(f) => f,
            };
            self.failures.inc();
            let why = match &failure {
                Failure::Refused(e) => format!("the plugin refused {e}"),
                Failure::NoAnswer => format!(
                    "no answer from the plugin on {RESPONSE_TOPIC} within {:?} (is the dynamic-security \
                     plugin loaded, and is the server's login {} a dynsec admin?)",
                    self.retry.answer_timeout, self.server_user
                ),
                Failure::NotSent(e) => format!("not sent: {e}"),
                Failure::RoleAdded => "the server's login lost its role again".to_string(),
            };
            if attempt >= self.retry.attempts {
                tracing::error!(
                    "gave up provisioning {} on Mosquitto's dynamic-security plugin after {attempt} attempts: {why}",
                    batch.what
                );
                return Err(why);
            }
            tracing::warn!(
                "provisioning {} on Mosquitto's dynamic-security plugin (attempt {attempt} of {}): {why}; again in {backoff:?}",
                batch.what,
                self.retry.attempts
            );
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }

    /// Sends `commands` once and waits for every answer.
    async fn exchange(
        &self,
        commands: &[Command],
        send: &impl Fn(Vec<u8>) -> Result<(), String>,
    ) -> Result<Vec<Value>, Failure> {
        let ids: Vec<String> = commands
            .iter()
            .map(|_| format!("{}-{}", self.tag, self.next.fetch_add(1, Ordering::Relaxed)))
            .collect();
        let mut answers = Vec::with_capacity(ids.len());
        {
            let mut waiting = guard(&self.waiting);
            for id in &ids {
                let (tx, rx) = oneshot::channel();
                waiting.insert(id.clone(), tx);
                answers.push(rx);
            }
        }
        let forget = || {
            let mut waiting = guard(&self.waiting);
            for id in &ids {
                waiting.remove(id);
            }
        };
        if let Err(e) = send(Batch::payload(commands, &ids)) {
            forget();
            return Err(Failure::NotSent(e));
        }
        let all = async {
            let mut out = Vec::with_capacity(answers.len());
            for rx in answers {
                out.push(rx.await.map_err(|_| Failure::NoAnswer)?);
            }
            Ok(out)
        };
        let result = tokio::time::timeout(self.retry.answer_timeout, all)
            .await
            .unwrap_or(Err(Failure::NoAnswer));
        forget();
        result
    }

    /// One attempt at a batch.
    async fn attempt(&self, batch: &Batch, send: &impl Fn(Vec<u8>) -> Result<(), String>) -> Result<(), Failure> {
        let mut commands = batch.commands.clone();
        if let Some((user, _)) = &batch.ensure_role {
            commands.push(command(json!({ "command": "getClient", "username": user }), &[]));
        }
        let answers = self.exchange(&commands, send).await?;
        for (c, a) in commands.iter().zip(&answers) {
            judge(c, a).map_err(Failure::Refused)?;
        }
        if let (Some((user, role)), Some(client)) = (&batch.ensure_role, answers.last())
            && !has_role(client, role)
        {
            let add = command(
                json!({ "command": "addClientRole", "username": user, "rolename": role, "priority": 0 }),
                &[],
            );
            // Mosquitto disconnects the client whose roles changed (us) and its answer may be
            // lost with the connection: the next attempt checks with `getClient`.
            return match self.exchange(std::slice::from_ref(&add), send).await {
                Ok(a) => match a.first().map(|a| judge(&add, a)) {
                    Some(Err(e)) => Err(Failure::Refused(e)),
                    _ => Err(Failure::RoleAdded),
                },
                Err(Failure::NoAnswer) => Err(Failure::RoleAdded),
                Err(f) => Err(f),
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_lock_gets_its_own_topics_and_client_id() {
        let b = lock_paired("lk_a", "VL-1", &[7; 32]).unwrap();
        let cmds: Vec<&Value> = b.commands.iter().map(|c| &c.body).collect();
        assert_eq!(cmds[2]["acls"][0]["topic"], "latchkey/v1/locks/lk_a/down");
        assert_eq!(cmds[2]["acls"][2]["topic"], "latchkey/v1/locks/lk_a/up");
        assert_eq!(cmds[3]["clientid"], "lk-VL-1");
        assert_eq!(
            cmds[3]["password"],
            broker::lock_password(&latchkey_lock_core::RootSecret([7; 32]), "lk_a").as_str()
        );
        assert!(lock_paired("a/b", "VL-1", &[7; 32]).is_none());
        let b = lock_unpaired("lk_a");
        assert_eq!(b.commands[1].body["rolename"], "latchkey-lock-lk_a");
        // Each command goes out with its own correlation id.
        let payload = Batch::payload(&b.commands, &["x-1".into(), "x-2".into()]);
        let v: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(v["commands"][0]["correlationData"], "x-1");
        assert_eq!(v["commands"][1]["command"], "deleteRole");
    }

    #[test]
    fn errors_that_mean_done_are_fine_others_are_not() {
        let s = setup("admin");
        let create_role = &s.commands[0];
        assert_eq!(judge(create_role, &json!({ "command": "createRole" })), Ok(()));
        assert_eq!(
            judge(
                create_role,
                &json!({ "command": "createRole", "error": "Role already exists" })
            ),
            Ok(())
        );
        assert_eq!(
            judge(
                create_role,
                &json!({ "command": "createRole", "error": "Permission denied" })
            ),
            Err("createRole: Permission denied".into())
        );
        let paired = lock_paired("lk_a", "VL-1", &[7; 32]).unwrap();
        assert_eq!(
            judge(&paired.commands[0], &json!({ "error": "Client not found" })),
            Ok(())
        );
        // A lock's new client must really be created.
        assert!(judge(&paired.commands[3], &json!({ "error": "Client already exists" })).is_err());
        assert!(has_role(
            &json!({ "data": { "client": { "roles": [{ "rolename": "admin" }, { "rolename": SERVER_ROLE }] } } }),
            SERVER_ROLE
        ));
        assert!(!has_role(
            &json!({ "data": { "client": { "roles": [] } } }),
            SERVER_ROLE
        ));
        assert!(!has_role(&json!({ "error": "Client not found" }), SERVER_ROLE));
    }

    /// A fake plugin: answers each published batch through `on_response` as `answer` says
    /// (`None`: no answer at all), and records what was sent.
    struct Fake {
        p: Arc<Provisioner>,
        sent: Arc<Mutex<Vec<Value>>>,
    }

    fn fake(
        retry: Retry,
        answer: impl Fn(usize, &Value) -> Option<Value> + Send + Sync + 'static,
    ) -> (Fake, impl Fn(Vec<u8>) -> Result<(), String>) {
        let (p, _rx) = Provisioner::new("admin".into(), "t".into(), retry, Counter::default());
        let sent = Arc::new(Mutex::new(Vec::<Value>::new()));
        let (p2, s2) = (p.clone(), sent.clone());
        let answer = Arc::new(answer);
        let send = move |payload: Vec<u8>| {
            let v: Value = serde_json::from_slice(&payload).map_err(|e| e.to_string())?;
            let n = {
                let mut s = s2.lock().unwrap();
                s.push(v.clone());
                s.len() - 1
            };
            let responses: Vec<Value> = v["commands"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|c| {
                    let mut r = answer(n, c)?;
                    r["command"] = c["command"].clone();
                    r["correlationData"] = c["correlationData"].clone();
                    Some(r)
                })
                .collect();
            let (p, body) = (p2.clone(), json!({ "responses": responses }).to_string());
            // The answer comes later, through the event loop.
            tokio::spawn(async move { p.on_response(body.as_bytes()) });
            Ok(())
        };
        (Fake { p, sent }, send)
    }

    fn quick() -> Retry {
        Retry {
            answer_timeout: Duration::from_millis(200),
            first_backoff: Duration::from_millis(10),
            attempts: 3,
        }
    }

    #[tokio::test]
    async fn an_attempt_without_answers_is_retried_and_then_succeeds() {
        // The first batch goes unanswered (the plugin was not up yet), the second is answered.
        let (f, send) = fake(quick(), |n, _| (n > 0).then(|| json!({})));
        let batch = lock_paired("lk_a", "VL-1", &[7; 32]).unwrap();
        assert_eq!(f.p.provision(&batch, &send).await, Ok(()));
        assert_eq!(f.sent.lock().unwrap().len(), 2);
        assert_eq!(f.p.failures.get(), 1);
        assert!(guard(&f.p.waiting).is_empty(), "no waiter is left behind");
    }

    #[tokio::test]
    async fn a_refusal_is_retried_then_given_up_and_counted() {
        let (f, send) = fake(quick(), |_, c| {
            Some(match c["command"].as_str() {
                Some("createClient") => json!({ "error": "Permission denied" }),
                _ => json!({}),
            })
        });
        let batch = lock_paired("lk_a", "VL-1", &[7; 32]).unwrap();
        let e = f.p.provision(&batch, &send).await.unwrap_err();
        assert!(e.contains("createClient: Permission denied"), "{e}");
        assert_eq!(f.sent.lock().unwrap().len(), 3, "three attempts");
        assert_eq!(f.p.failures.get(), 3);
    }

    #[tokio::test]
    async fn setup_adds_the_servers_role_only_when_it_is_missing() {
        // getClient shows no role the first time; addClientRole goes unanswered (Mosquitto
        // disconnects us); the next getClient shows it.
        let (f, send) = fake(quick(), |n, c| match c["command"].as_str() {
            Some("getClient") if n == 0 => Some(json!({ "data": { "client": { "roles": [] } } })),
            Some("getClient") => Some(json!({ "data": { "client": { "roles": [{ "rolename": SERVER_ROLE }] } } })),
            Some("addClientRole") => None,
            Some("createRole") => Some(json!({ "error": "Role already exists" })),
            _ => Some(json!({})),
        });
        assert_eq!(f.p.provision(&setup("admin"), &send).await, Ok(()));
        let sent = f.sent.lock().unwrap().clone();
        let names: Vec<Vec<&str>> = sent
            .iter()
            .map(|b| {
                b["commands"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c["command"].as_str().unwrap())
                    .collect()
            })
            .collect();
        assert_eq!(
            names,
            vec![
                vec!["createRole", "createRole", "createClient", "getClient"],
                vec!["addClientRole"],
                vec!["createRole", "createRole", "createClient", "getClient"],
            ]
        );
        assert_eq!(f.p.failures.get(), 0, "adding the role is no failure");
    }

    #[tokio::test]
    async fn answers_to_other_instances_and_garbage_are_ignored() {
        let (p, _rx) = Provisioner::new("admin".into(), "t".into(), quick(), Counter::default());
        p.on_response(b"not json");
        p.on_response(br#"{"responses":[{"command":"createRole","correlationData":"other-1"}]}"#);
        p.on_response(br#"{"something":"else"}"#);
        assert!(guard(&p.waiting).is_empty());
    }
}

//! Per-lock logins and topic rules on an external Mosquitto, through its dynamic-security
//! plugin (`mqtt_dynsec`, `docs/design/broker-auth.md`): the server, logged in as a dynsec
//! admin, sends the plugin's commands to `$CONTROL/dynamic-security/v1`. At each connection it
//! (re)creates the `pairing` login and its role and gives its own login the server's role; when
//! a lock pairs it creates a role and a client for it (its lock id, the password derived from
//! its root secret, its client id `lk-{serial}`); when a lock is unpaired it deletes them. The
//! rules are those of the embedded broker (`broker.rs`).

use latchkey_protocol::{broker, topics};
use serde_json::{Value, json};

/// Where the plugin reads its commands.
pub const CONTROL_TOPIC: &str = "$CONTROL/dynamic-security/v1";
const SERVER_ROLE: &str = "latchkey-server";
const PAIRING_ROLE: &str = "latchkey-pairing";

fn acl(acltype: &str, topic: &str) -> Value {
    json!({ "acltype": acltype, "topic": topic, "priority": 0, "allow": true })
}

fn lock_role(lock_id: &str) -> String {
    format!("latchkey-lock-{lock_id}")
}

/// The commands that set up the pairing login and the server's own rights; `server_user` is
/// the server's login (a dynsec admin). Creating what already exists fails harmlessly.
pub fn setup(server_user: &str) -> Vec<u8> {
    let commands = json!({ "commands": [
        { "command": "createRole", "rolename": SERVER_ROLE, "acls": [
            acl("subscribePattern", "latchkey/#"),
            acl("subscribePattern", "$share/#"),
            acl("publishClientSend", "latchkey/#"),
            acl("publishClientReceive", "latchkey/#"),
        ]},
        { "command": "addClientRole", "username": server_user, "rolename": SERVER_ROLE, "priority": 0 },
        { "command": "createRole", "rolename": PAIRING_ROLE, "acls": [
            acl("subscribePattern", "latchkey/v1/pair/+/down"),
            acl("publishClientSend", "latchkey/v1/pair/+/up"),
            acl("publishClientReceive", "latchkey/v1/pair/+/down"),
        ]},
        { "command": "createClient", "username": broker::PAIRING_USERNAME,
          "password": broker::PAIRING_PASSWORD,
          "roles": [{ "rolename": PAIRING_ROLE, "priority": 0 }] },
    ]});
    commands.to_string().into_bytes()
}

/// The commands that give a newly paired lock its login and its two topics (replacing any
/// left from an earlier pairing under the same id).
pub fn lock_paired(lock_id: &str, serial: &str, root_secret: &[u8; 32]) -> Option<Vec<u8>> {
    let (down, up) = (topics::lock_down(lock_id)?, topics::lock_up(lock_id)?);
    let role = lock_role(lock_id);
    let password = broker::lock_password(&latchkey_lock_core::RootSecret(*root_secret), lock_id);
    let commands = json!({ "commands": [
        { "command": "deleteClient", "username": lock_id },
        { "command": "deleteRole", "rolename": role },
        { "command": "createRole", "rolename": role, "acls": [
            acl("subscribeLiteral", down.as_str()),
            acl("publishClientReceive", down.as_str()),
            acl("publishClientSend", up.as_str()),
        ]},
        { "command": "createClient", "username": lock_id, "password": password.as_str(),
          "clientid": super::broker::lock_client_id(serial),
          "roles": [{ "rolename": role, "priority": 0 }] },
    ]});
    Some(commands.to_string().into_bytes())
}

/// The commands that remove an unpaired lock's login and role.
pub fn lock_unpaired(lock_id: &str) -> Vec<u8> {
    let commands = json!({ "commands": [
        { "command": "deleteClient", "username": lock_id },
        { "command": "deleteRole", "rolename": lock_role(lock_id) },
    ]});
    commands.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_gets_its_own_topics_and_client_id() {
        let v: Value = serde_json::from_slice(&lock_paired("lk_a", "VL-1", &[7; 32]).unwrap()).unwrap();
        let cmds = v["commands"].as_array().unwrap();
        assert_eq!(cmds[2]["acls"][0]["topic"], "latchkey/v1/locks/lk_a/down");
        assert_eq!(cmds[2]["acls"][2]["topic"], "latchkey/v1/locks/lk_a/up");
        assert_eq!(cmds[3]["clientid"], "lk-VL-1");
        assert_eq!(
            cmds[3]["password"],
            broker::lock_password(&latchkey_lock_core::RootSecret([7; 32]), "lk_a").as_str()
        );
        assert!(lock_paired("a/b", "VL-1", &[7; 32]).is_none());
        let v: Value = serde_json::from_slice(&lock_unpaired("lk_a")).unwrap();
        assert_eq!(v["commands"][1]["rolename"], "latchkey-lock-lk_a");
    }
}

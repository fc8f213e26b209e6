//! Pairing (`docs/protocol.md`, "Pairing"): SPAKE2 keyed by the setup code the lock shows, on
//! the discriminator's pairing topics, then the lock's key and the grant exchanged under it.

use std::sync::atomic::Ordering;
use std::time::Duration;

use latchkey_lock_core::RootSecret;
use latchkey_protocol::{PairStart, Pairing, ServerPairing, SetupCode, decode_pairing, encode_pairing, topics};
use tokio::sync::mpsc;

use super::link::{Link, guard};
use super::{PairedDevice, PairingError, PairingGrant};
use crate::env::random;

/// How long `pair` waits for each step of the exchange.
const PAIR_STEP: Duration = Duration::from_secs(8);

/// One pairing exchange's number and the channel of the pairing messages it receives.
pub(super) type PairingWaiter = (u64, mpsc::UnboundedSender<Vec<u8>>);

/// The discriminator of a pairing up topic (`latchkey/v1/pair/042/up`).
pub(super) fn parse_pairing_up(topic: &str) -> Option<u16> {
    let d = topic
        .strip_prefix(topics::ROOT)?
        .strip_prefix("/pair/")?
        .strip_suffix("/up")?;
    if d.len() != 3 || !d.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    d.parse().ok()
}

impl Link {
    /// Runs the pairing exchange with the unpaired lock showing `setup_code`.
    pub(super) async fn pair(&self, setup_code: &str, grant: &PairingGrant) -> Result<PairedDevice, PairingError> {
        if !self.connected.load(Ordering::SeqCst) {
            return Err(PairingError::Unavailable("the MQTT broker is not reachable".into()));
        }
        let code = SetupCode::parse(setup_code).ok_or(PairingError::NoAnswer)?;
        let d = code.discriminator();
        let down = topics::pairing_down(d).ok_or(PairingError::NoAnswer)?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let me = self.next_pairing.fetch_add(1, Ordering::Relaxed);
        guard(&self.pairings).entry(d).or_default().push((me, tx));
        struct Unregister<'a>(&'a Link, u16, u64);
        impl Drop for Unregister<'_> {
            fn drop(&mut self) {
                let mut pairings = guard(&self.0.pairings);
                if let Some(list) = pairings.get_mut(&self.1) {
                    list.retain(|(n, _)| *n != self.2);
                    if list.is_empty() {
                        pairings.remove(&self.1);
                    }
                }
            }
        }
        let _unregister = Unregister(self, d, me);

        let (session, seed) = (random::<16>(self.entropy.as_ref()), random::<32>(self.entropy.as_ref()));
        let (_, start): (ServerPairing, PairStart) = ServerPairing::start(&code, session, seed);
        let mut buf = [0u8; 512];
        let n = encode_pairing(&Pairing::Start(start), &mut buf).map_err(|_| PairingError::NoAnswer)?;
        self.publish(&down, buf.get(..n).unwrap_or(&[]).to_vec())
            .map_err(PairingError::Unavailable)?;

        let deadline = tokio::time::Instant::now() + PAIR_STEP;
        let root = RootSecret(grant.root_secret);
        let server_public = self.server_key.verifying_key();
        let (device, done) = loop {
            let Ok(Some(msg)) = tokio::time::timeout_at(deadline, rx.recv()).await else {
                return Err(PairingError::NoAnswer);
            };
            match decode_pairing(&msg) {
                Ok(Pairing::Refused(r)) if r.session == session => {
                    return Err(PairingError::TooManyAttempts {
                        retry_after: u64::from(r.retry_after),
                    });
                }
                Ok(Pairing::Reply(reply)) if reply.session == session => {
                    let serial = reply.serial.to_string();
                    // Every unpaired lock with this discriminator answers; only the one that
                    // shows this code passes the confirmation. The exchange's state is made
                    // again from its seed for each reply (a SPAKE2 state is used up by one try).
                    let (server, _) = ServerPairing::start(&code, session, seed);
                    let Ok(confirmed) = server.finish(&reply, grant.lock_id.as_bytes(), &server_public, &root) else {
                        tracing::debug!("a pairing reply from another lock with this discriminator");
                        continue;
                    };
                    let device = PairedDevice {
                        serial,
                        device_key: confirmed.lock_key.to_bytes(),
                    };
                    let n = encode_pairing(&Pairing::Finish(confirmed.finish), &mut buf)
                        .map_err(|_| PairingError::NoAnswer)?;
                    self.publish(&down, buf.get(..n).unwrap_or(&[]).to_vec())
                        .map_err(PairingError::Unavailable)?;
                    break (device, confirmed.done);
                }
                _ => continue,
            }
        };
        let deadline = tokio::time::Instant::now() + PAIR_STEP;
        loop {
            let Ok(Some(msg)) = tokio::time::timeout_at(deadline, rx.recv()).await else {
                return Err(PairingError::NoAnswer);
            };
            if let Ok(Pairing::Done(d)) = decode_pairing(&msg)
                && d.session == session
            {
                done.check(&d).map_err(|_| PairingError::NoAnswer)?;
                if self.dynsec.is_some()
                    && let Some(commands) =
                        super::dynsec::lock_paired(&grant.lock_id, &device.serial, &grant.root_secret)
                {
                    self.dynsec_command(commands);
                }
                return Ok(device);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairing_topics_parse() {
        assert_eq!(parse_pairing_up("latchkey/v1/pair/042/up"), Some(42));
        assert_eq!(parse_pairing_up("latchkey/v1/pair/42/up"), None);
        assert_eq!(parse_pairing_up("latchkey/v1/pair/04a/up"), None);
    }
}

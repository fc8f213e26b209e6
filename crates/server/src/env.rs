//! What the server takes from its environment: the time and randomness. The domain and the
//! gateway never read either themselves; they are handed a `Clock` and an `Entropy` (or a
//! `now`), so that tests control both. `app.rs` gives them the system's (`Parts`).

use jiff::Timestamp;

/// Randomness, injected so tests can make it deterministic.
pub trait Entropy: Send + Sync {
    fn fill(&self, buf: &mut [u8]);
}

/// `N` random bytes.
pub fn random<const N: usize>(entropy: &dyn Entropy) -> [u8; N] {
    let mut b = [0u8; N];
    entropy.fill(&mut b);
    b
}

/// The operating system's CSPRNG.
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) {
        // getrandom only fails when the OS has no randomness source at all, which a server
        // cannot run without.
        getrandom::fill(buf).expect("the operating system's random number generator failed");
    }
}

/// A clock, injected for the same reason. The domain takes `now` as a parameter; handlers,
/// the gateway and workers read it from here.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

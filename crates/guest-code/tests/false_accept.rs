//! The documented forgery bound, measured: random 12-digit entries against a lock whose 8
//! issuer slots are all active. (Revoked keys are left out: a match under one is a denial, and
//! a second HMAC per entry would double the run time; the property tests cover that path.)

use latchkey_guest_code::{Check, ISSUER_SLOTS, IssuerState, RootSecret, Timing, check, timing};

/// SplitMix64: a small, fixed, well-mixed sequence (no dependency, same numbers everywhere).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Entries tried.
const N: u32 = 2_000_000;
/// The bound: each entry is accepted with probability at most p = 10^-6 (a valid field word
/// names one slot, window and flag, and exactly one tag of 10^6 matches), so the number of
/// genuine matches among N entries is at most Binomial(N, p), mean 2. For that distribution
/// P(X >= 13) = 1 - sum_{k<=12} C(N,k) p^k (1-p)^(N-k) = 2.1 * 10^-7 (the Poisson(2) tail is the
/// same to three digits), so a correct implementation stays at or below 12, while one whose
/// real acceptance rate were 10 times the bound (mean 20) would pass with probability below
/// 4 %. The entries are a fixed pseudo-random sequence, so the count is the same on every run.
const THRESHOLD: u32 = 12;

#[test]
fn random_entries_are_accepted_within_the_bound() {
    let root = RootSecret(*b"latchkey statistical test root!!");
    let lock = b"lock-statistics";
    let issuers: [IssuerState; ISSUER_SLOTS] =
        core::array::from_fn(|i| IssuerState::active(7, root.issuer_key(i as u8, 7)));
    let now = 1_750_000_000;
    let mut rng = SplitMix(0x5eed);
    let (mut genuine, mut granted) = (0u32, 0u32);
    let mut entry = [0u8; 12];
    for _ in 0..N {
        let mut n = rng.next() % 1_000_000_000_000;
        for d in entry.iter_mut().rev() {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
        match check(&entry, lock, &issuers, now) {
            Check::Genuine { validity, .. } => {
                genuine += 1;
                if timing(validity, now) == Timing::Valid {
                    granted += 1;
                }
            }
            Check::Revoked { .. } | Check::Unknown => {}
        }
    }
    eprintln!("{N} random entries: {genuine} matched a tag, {granted} of them inside their window");
    assert!(genuine <= THRESHOLD, "{genuine} of {N} random entries matched a tag");
}

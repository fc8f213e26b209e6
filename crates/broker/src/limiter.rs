//! The limit on failed logins per client address (`LoginRateLimit`): a token bucket per address.

use std::collections::HashMap;
use std::net::IpAddr;

use tokio::time::Instant;

use crate::config::LoginRateLimit;

/// The key an address is counted under: the IPv4 address, or the /64 network of an IPv6 one
/// (a single host usually holds a whole /64). IPv4 addresses mapped into IPv6 count as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    V4(u32),
    V6(u64),
    /// Every address not tracked once the table is full of addresses still limited.
    Overflow,
}

fn key(ip: IpAddr) -> Key {
    match ip {
        IpAddr::V4(v4) => Key::V4(v4.into()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Key::V4(v4.into()),
            None => Key::V6((u128::from(v6) >> 64) as u64),
        },
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

pub(crate) struct Limiter {
    limit: LoginRateLimit,
    buckets: HashMap<Key, Bucket>,
}

impl Limiter {
    pub(crate) fn new(limit: LoginRateLimit) -> Self {
        Limiter {
            limit,
            buckets: HashMap::new(),
        }
    }

    fn tokens(&self, bucket: &Bucket, now: Instant) -> f64 {
        let refill = self.limit.refill.as_secs_f64();
        let gained = if refill > 0.0 {
            now.saturating_duration_since(bucket.at).as_secs_f64() / refill
        } else {
            f64::INFINITY
        };
        (bucket.tokens + gained).min(f64::from(self.limit.burst))
    }

    fn lookup(&self, ip: IpAddr) -> Option<&Bucket> {
        self.buckets.get(&key(ip)).or_else(|| self.buckets.get(&Key::Overflow))
    }

    /// Whether a login from `ip` may be checked now.
    pub(crate) fn allows(&self, ip: IpAddr, now: Instant) -> bool {
        match self.lookup(ip) {
            Some(b) => self.tokens(b, now) >= 1.0,
            None => self.limit.burst >= 1,
        }
    }

    /// Records a refused login from `ip`.
    pub(crate) fn failed(&mut self, ip: IpAddr, now: Instant) {
        let mut k = key(ip);
        if !self.buckets.contains_key(&k) && self.buckets.len() >= self.limit.max_tracked {
            let burst = f64::from(self.limit.burst);
            let limit = self.limit.refill.as_secs_f64();
            self.buckets.retain(|_, b| {
                let gained = if limit > 0.0 {
                    now.saturating_duration_since(b.at).as_secs_f64() / limit
                } else {
                    f64::INFINITY
                };
                b.tokens + gained < burst
            });
            if self.buckets.len() >= self.limit.max_tracked {
                k = Key::Overflow;
            }
        }
        let tokens = match self.buckets.get(&k) {
            Some(b) => self.tokens(b, now),
            None => f64::from(self.limit.burst),
        };
        self.buckets.insert(
            k,
            Bucket {
                tokens: (tokens - 1.0).max(0.0),
                at: now,
            },
        );
    }

    /// Addresses tracked.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limiter(burst: u32, max_tracked: usize) -> Limiter {
        Limiter::new(LoginRateLimit {
            burst,
            refill: Duration::from_secs(1),
            max_tracked,
        })
    }

    #[test]
    fn an_address_gets_its_burst_then_one_a_refill() {
        let mut l = limiter(3, 100);
        let t0 = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(l.allows(a, t0));
            l.failed(a, t0);
        }
        assert!(!l.allows(a, t0));
        assert!(l.allows(b, t0), "other addresses are not slowed");
        assert!(!l.allows(a, t0 + Duration::from_millis(900)));
        assert!(l.allows(a, t0 + Duration::from_millis(1000)));
        l.failed(a, t0 + Duration::from_millis(1000));
        assert!(!l.allows(a, t0 + Duration::from_millis(1500)));
        assert!(l.allows(a, t0 + Duration::from_secs(10)));
    }

    #[test]
    fn ipv6_counts_by_network_and_mapped_ipv4_as_ipv4() {
        let mut l = limiter(1, 100);
        let t0 = Instant::now();
        l.failed("2001:db8::1".parse().unwrap(), t0);
        assert!(!l.allows("2001:db8::ffff:2".parse().unwrap(), t0));
        assert!(l.allows("2001:db8:0:1::1".parse().unwrap(), t0));
        l.failed("::ffff:10.0.0.1".parse().unwrap(), t0);
        assert!(!l.allows("10.0.0.1".parse().unwrap(), t0));
    }

    #[test]
    fn the_table_is_bounded() {
        let mut l = limiter(2, 4);
        let t0 = Instant::now();
        for i in 0..4u8 {
            l.failed(IpAddr::from([10, 0, 0, i]), t0);
            l.failed(IpAddr::from([10, 0, 0, i]), t0);
        }
        // Full of limited addresses: newcomers share one bucket.
        for i in 10..20u8 {
            l.failed(IpAddr::from([10, 0, 0, i]), t0);
        }
        assert_eq!(l.tracked(), 5);
        assert!(!l.allows(IpAddr::from([10, 0, 0, 30]), t0));
        // Once buckets are full again they are forgotten to make room.
        let later = t0 + Duration::from_secs(60);
        l.failed(IpAddr::from([10, 0, 0, 40]), later);
        assert_eq!(l.tracked(), 1);
        assert!(l.allows(IpAddr::from([10, 0, 0, 0]), later));
    }
}

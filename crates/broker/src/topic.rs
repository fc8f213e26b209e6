//! Topic names and filters (MQTT 3.1.1, section 4.7), and the one comparison an authorization
//! hook needs: [`filter_within`].

/// The prefix of a shared subscription: `$share/{group}/{filter}`.
pub const SHARE_PREFIX: &str = "$share/";

/// Whether `topic` may be published to: not empty, no wildcard, no NUL character.
pub fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && !topic.contains(['+', '#', '\0'])
}

/// Whether `filter` is a valid subscription filter (not a shared one): not empty, no NUL, `+`
/// only as a whole level, `#` only as the whole last level.
pub fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.contains('\0') {
        return false;
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let last = levels.peek().is_none();
        match level {
            "+" => {}
            "#" if last => {}
            l if l.contains(['+', '#']) => return false,
            _ => {}
        }
    }
    true
}

/// A subscription as a client sends it: `$share/{group}/{filter}` or a plain filter. `None`
/// when it is not valid (a shared one needs a group without `/`, `+` and `#`, and a valid
/// filter).
pub fn parse_subscription(raw: &str) -> Option<(Option<&str>, &str)> {
    match raw.strip_prefix(SHARE_PREFIX) {
        Some(rest) => {
            let (group, filter) = rest.split_once('/')?;
            (!group.is_empty() && !group.contains(['+', '#', '\0']) && valid_filter(filter))
                .then_some((Some(group), filter))
        }
        None => valid_filter(raw).then_some((None, raw)),
    }
}

/// Whether every topic that `filter` matches is also matched by `allowed`; for a topic name
/// (no wildcards), whether `allowed` matches it. This is the check an authorization hook makes:
/// a login allowed to read `latchkey/v1/locks/A/down` may subscribe to exactly that, not to
/// `latchkey/v1/locks/+/down` or `#`; one allowed `latchkey/v1/pair/#` may subscribe to
/// `latchkey/v1/pair/+/down`. As in MQTT matching, a wildcard in the first level of `allowed`
/// does not cover names that start with `$` (so `#` does not allow `$share/...`).
pub fn filter_within(filter: &str, allowed: &str) -> bool {
    let mut f = filter.split('/');
    let mut a = allowed.split('/');
    let mut first = true;
    loop {
        let (fl, al) = (f.next(), a.next());
        if first && fl.is_some_and(|l| l.starts_with('$')) && matches!(al, Some("+" | "#")) {
            return false;
        }
        first = false;
        match (fl, al) {
            (_, Some("#")) => return true,
            (Some("#"), _) => return false,
            (Some("+"), Some("+")) => {}
            (Some("+"), Some(_)) => return false,
            (Some(_), Some("+")) => {}
            (Some(x), Some(y)) if x == y => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether the topic name `topic` matches the filter `filter`.
pub fn matches(topic: &str, filter: &str) -> bool {
    valid_topic(topic) && filter_within(topic, filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_validated() {
        for ok in ["a", "a/b", "+", "#", "a/+/c", "a/#", "+/+", "/", "a//b", "$share"] {
            assert!(valid_filter(ok), "{ok}");
        }
        for bad in ["", "a/#/b", "a#", "a/b+", "+a", "#/a", "a\0b"] {
            assert!(!valid_filter(bad), "{bad}");
        }
    }

    #[test]
    fn topics_are_validated() {
        assert!(valid_topic("a/b"));
        assert!(valid_topic("$SYS/x"));
        for bad in ["", "a/+", "#", "a\0"] {
            assert!(!valid_topic(bad), "{bad}");
        }
    }

    #[test]
    fn shared_subscriptions_are_parsed() {
        assert_eq!(parse_subscription("$share/g/a/+"), Some((Some("g"), "a/+")));
        assert_eq!(parse_subscription("a/+"), Some((None, "a/+")));
        assert_eq!(parse_subscription("$share/g"), None);
        assert_eq!(parse_subscription("$share//a"), None);
        assert_eq!(parse_subscription("$share/g+/a"), None);
        assert_eq!(parse_subscription("$share/g/a/#/b"), None);
    }

    #[test]
    fn matching_follows_the_standard() {
        let cases = [
            ("a/b/c", "a/b/c", true),
            ("a/b/c", "a/+/c", true),
            ("a/b/c", "a/#", true),
            ("a", "a/#", true),
            ("a/b", "a/+", true),
            ("a", "a/+", false),
            ("a/b/c", "a/+", false),
            ("a/b", "#", true),
            ("/a", "+/a", true),
            ("$SYS/x", "#", false),
            ("$SYS/x", "+/x", false),
            ("$SYS/x", "$SYS/#", true),
            ("$SYS/x", "$SYS/x", true),
            ("a/b", "a/c", false),
        ];
        for (topic, filter, want) in cases {
            assert_eq!(matches(topic, filter), want, "{topic} ~ {filter}");
        }
    }

    #[test]
    fn a_filter_is_within_a_wider_one_only() {
        let lock = "latchkey/v1/locks/A/down";
        assert!(filter_within(lock, lock));
        assert!(!filter_within("latchkey/v1/locks/+/down", lock));
        assert!(!filter_within("latchkey/v1/locks/#", lock));
        assert!(!filter_within("#", lock));
        assert!(!filter_within("latchkey/v1/locks/A/down/x", lock));
        assert!(!filter_within("latchkey/v1/locks/A", lock));
        let pair = "latchkey/v1/pair/#";
        assert!(filter_within("latchkey/v1/pair/123/down", pair));
        assert!(filter_within("latchkey/v1/pair/+/down", pair));
        assert!(filter_within("latchkey/v1/pair/#", pair));
        assert!(filter_within("latchkey/v1/pair", pair));
        assert!(!filter_within("latchkey/v1/#", pair));
        assert!(!filter_within("latchkey/v1/+/123/down", pair));
        assert!(filter_within("a/+/c", "a/+/+"));
        assert!(!filter_within("a/+/+", "a/+/c"));
        assert!(filter_within("anything/at/all", "#"));
        assert!(!filter_within("$share/g/latchkey/v1/pair/1/up", "#"));
        assert!(!filter_within("$share/g/latchkey/v1/pair/1/up", pair));
    }
}

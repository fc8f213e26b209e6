//! Subscriptions: a tree of topic levels, so that routing a message costs the depth of its
//! topic, not the number of subscriptions. Plain subscribers get every matching message;
//! members of a shared group (`$share/{group}/{filter}`) get one each, in turn, preferring
//! connected members.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::Qos;

/// What the tree holds: a session, known by a number unique in the broker.
pub(crate) trait Subscriber {
    fn id(&self) -> u64;
    fn online(&self) -> bool;
}

pub(crate) struct Router<T> {
    root: Node<T>,
    count: usize,
}

struct Node<T> {
    children: HashMap<Box<str>, Node<T>>,
    plus: Option<Box<Node<T>>>,
    /// Subscriptions whose filter ends at this node.
    here: Subs<T>,
    /// Subscriptions whose filter ends with `#` after this node.
    hash: Subs<T>,
}

struct Subs<T> {
    direct: Vec<(Arc<T>, Qos)>,
    groups: Vec<Group<T>>,
}

struct Group<T> {
    name: Box<str>,
    members: Vec<(Arc<T>, Qos)>,
    next: AtomicUsize,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            children: HashMap::new(),
            plus: None,
            here: Subs::default(),
            hash: Subs::default(),
        }
    }
}

impl<T> Default for Subs<T> {
    fn default() -> Self {
        Subs {
            direct: Vec::new(),
            groups: Vec::new(),
        }
    }
}

impl<T> Node<T> {
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.plus.is_none() && self.here.is_empty() && self.hash.is_empty()
    }
}

impl<T> Subs<T> {
    fn is_empty(&self) -> bool {
        self.direct.is_empty() && self.groups.is_empty()
    }
}

impl<T: Subscriber> Subs<T> {
    /// Adds or replaces (same subscriber, same group) a subscription; `true` when it is new.
    fn insert(&mut self, group: Option<&str>, sub: Arc<T>, qos: Qos) -> bool {
        let list = match group {
            None => &mut self.direct,
            Some(name) => {
                let i = match self.groups.iter().position(|g| &*g.name == name) {
                    Some(i) => i,
                    None => {
                        self.groups.push(Group {
                            name: name.into(),
                            members: Vec::new(),
                            next: AtomicUsize::new(0),
                        });
                        self.groups.len() - 1
                    }
                };
                &mut self.groups[i].members
            }
        };
        match list.iter_mut().find(|(s, _)| s.id() == sub.id()) {
            Some(existing) => {
                existing.1 = qos;
                false
            }
            None => {
                list.push((sub, qos));
                true
            }
        }
    }

    fn remove(&mut self, group: Option<&str>, id: u64) -> bool {
        match group {
            None => remove_from(&mut self.direct, id),
            Some(name) => {
                let Some(i) = self.groups.iter().position(|g| &*g.name == name) else {
                    return false;
                };
                let removed = remove_from(&mut self.groups[i].members, id);
                if self.groups[i].members.is_empty() {
                    self.groups.swap_remove(i);
                }
                removed
            }
        }
    }

    fn collect(&self, out: &mut Vec<(Arc<T>, Qos)>) {
        out.extend(self.direct.iter().map(|(s, q)| (s.clone(), *q)));
        for g in &self.groups {
            let n = g.members.len();
            let start = g.next.fetch_add(1, Ordering::Relaxed) % n;
            let chosen = (0..n)
                .map(|k| &g.members[(start + k) % n])
                .find(|(s, _)| s.online())
                .unwrap_or(&g.members[start]);
            out.push((chosen.0.clone(), chosen.1));
        }
    }
}

fn remove_from<T: Subscriber>(list: &mut Vec<(Arc<T>, Qos)>, id: u64) -> bool {
    let before = list.len();
    list.retain(|(s, _)| s.id() != id);
    list.len() != before
}

impl<T: Subscriber> Router<T> {
    pub(crate) fn new() -> Self {
        Router {
            root: Node::default(),
            count: 0,
        }
    }

    /// Subscriptions held, all sessions together.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Adds `sub`'s subscription to the valid filter `filter` (in `group`, for a shared one),
    /// or changes its QoS when it has it already.
    pub(crate) fn insert(&mut self, group: Option<&str>, filter: &str, sub: Arc<T>, qos: Qos) {
        let mut node = &mut self.root;
        let mut hash = false;
        for level in filter.split('/') {
            if level == "#" {
                hash = true;
                break;
            }
            node = if level == "+" {
                node.plus.get_or_insert_with(Box::default)
            } else {
                node.children.entry(level.into()).or_default()
            };
        }
        let subs = if hash { &mut node.hash } else { &mut node.here };
        if subs.insert(group, sub, qos) {
            self.count += 1;
        }
    }

    /// Removes the subscription of session `id` to `filter` (in `group`), and the tree nodes
    /// nobody needs any more.
    pub(crate) fn remove(&mut self, group: Option<&str>, filter: &str, id: u64) {
        let levels: Vec<&str> = filter.split('/').collect();
        if remove_in(&mut self.root, &levels, group, id) {
            self.count -= 1;
        }
    }

    /// The subscribers of a message on `topic` (a valid topic name), each once, with the
    /// highest QoS among its matching subscriptions.
    pub(crate) fn route(&self, topic: &str) -> Vec<(Arc<T>, Qos)> {
        let levels: Vec<&str> = topic.split('/').collect();
        let mut out = Vec::new();
        collect(&self.root, &levels, 0, topic.starts_with('$'), &mut out);
        if out.len() > 1 {
            out.sort_by(|(a, qa), (b, qb)| a.id().cmp(&b.id()).then(qb.cmp(qa)));
            out.dedup_by(|later, first| later.0.id() == first.0.id());
        }
        out
    }
}

fn remove_in<T: Subscriber>(node: &mut Node<T>, levels: &[&str], group: Option<&str>, id: u64) -> bool {
    let Some((&level, rest)) = levels.split_first() else {
        return node.here.remove(group, id);
    };
    if level == "#" {
        return node.hash.remove(group, id);
    }
    if level == "+" {
        let Some(child) = node.plus.as_deref_mut() else {
            return false;
        };
        let removed = remove_in(child, rest, group, id);
        if child.is_empty() {
            node.plus = None;
        }
        removed
    } else {
        let Some(child) = node.children.get_mut(level) else {
            return false;
        };
        let removed = remove_in(child, rest, group, id);
        if child.is_empty() {
            node.children.remove(level);
        }
        removed
    }
}

fn collect<T: Subscriber>(node: &Node<T>, levels: &[&str], depth: usize, dollar: bool, out: &mut Vec<(Arc<T>, Qos)>) {
    // Wildcards in the first level do not match topics that start with `$`.
    let wild = !(depth == 0 && dollar);
    if wild {
        // `a/#` matches `a` too.
        node.hash.collect(out);
    }
    let Some(&level) = levels.get(depth) else {
        node.here.collect(out);
        return;
    };
    if let Some(child) = node.children.get(level) {
        collect(child, levels, depth + 1, dollar, out);
    }
    if wild && let Some(plus) = node.plus.as_deref() {
        collect(plus, levels, depth + 1, dollar, out);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    struct S(u64, AtomicBool);
    impl Subscriber for S {
        fn id(&self) -> u64 {
            self.0
        }
        fn online(&self) -> bool {
            self.1.load(Ordering::Relaxed)
        }
    }

    fn s(id: u64) -> Arc<S> {
        Arc::new(S(id, AtomicBool::new(true)))
    }

    fn ids(r: &Router<S>, topic: &str) -> Vec<(u64, Qos)> {
        r.route(topic).into_iter().map(|(s, q)| (s.0, q)).collect()
    }

    #[test]
    fn routes_by_filter_and_wildcards() {
        let mut r = Router::new();
        r.insert(None, "a/b/c", s(1), Qos::AtLeastOnce);
        r.insert(None, "a/+/c", s(2), Qos::AtMostOnce);
        r.insert(None, "a/#", s(3), Qos::AtLeastOnce);
        r.insert(None, "#", s(4), Qos::AtMostOnce);
        r.insert(None, "$SYS/#", s(5), Qos::AtMostOnce);
        assert_eq!(r.len(), 5);
        assert_eq!(
            ids(&r, "a/b/c"),
            vec![
                (1, Qos::AtLeastOnce),
                (2, Qos::AtMostOnce),
                (3, Qos::AtLeastOnce),
                (4, Qos::AtMostOnce)
            ]
        );
        assert_eq!(ids(&r, "a"), vec![(3, Qos::AtLeastOnce), (4, Qos::AtMostOnce)]);
        assert_eq!(ids(&r, "b"), vec![(4, Qos::AtMostOnce)]);
        assert_eq!(ids(&r, "$SYS/x"), vec![(5, Qos::AtMostOnce)]);
    }

    #[test]
    fn one_copy_per_subscriber_at_its_highest_qos() {
        let mut r = Router::new();
        let one = s(1);
        r.insert(None, "a/+", one.clone(), Qos::AtMostOnce);
        r.insert(None, "a/b", one.clone(), Qos::AtLeastOnce);
        r.insert(None, "a/b", one, Qos::AtLeastOnce);
        assert_eq!(r.len(), 2);
        assert_eq!(ids(&r, "a/b"), vec![(1, Qos::AtLeastOnce)]);
    }

    #[test]
    fn removal_prunes_the_tree() {
        let mut r = Router::new();
        r.insert(None, "a/b/c", s(1), Qos::AtMostOnce);
        r.insert(Some("g"), "a/+/c", s(1), Qos::AtMostOnce);
        r.insert(None, "a/#", s(2), Qos::AtMostOnce);
        r.remove(None, "a/b/c", 1);
        r.remove(Some("g"), "a/+/c", 1);
        r.remove(None, "a/b/c", 1);
        r.remove(None, "x/y", 1);
        assert_eq!(r.len(), 1);
        assert_eq!(ids(&r, "a/b/c"), vec![(2, Qos::AtMostOnce)]);
        r.remove(None, "a/#", 2);
        assert_eq!(r.len(), 0);
        assert!(r.root.is_empty());
    }

    #[test]
    fn a_shared_group_gets_each_message_once_in_turn_preferring_connected_members() {
        let mut r = Router::new();
        let (a, b, c) = (s(1), s(2), s(3));
        for m in [&a, &b, &c] {
            r.insert(Some("g"), "t/+", m.clone(), Qos::AtLeastOnce);
        }
        r.insert(Some("h"), "t/#", s(9), Qos::AtMostOnce);
        let mut seen = [0; 4];
        for _ in 0..30 {
            let got = ids(&r, "t/x");
            assert_eq!(got.len(), 2, "{got:?}");
            assert_eq!(got[1].0, 9);
            seen[got[0].0 as usize] += 1;
        }
        assert_eq!(seen, [0, 10, 10, 10]);
        b.1.store(false, Ordering::Relaxed);
        c.1.store(false, Ordering::Relaxed);
        for _ in 0..10 {
            assert_eq!(ids(&r, "t/x")[0].0, 1);
        }
    }
}

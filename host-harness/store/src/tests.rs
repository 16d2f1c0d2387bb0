//! Behaviour tests, run against every backend through `&dyn TxStore`, and the core's
//! namespaced view over each.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use vcs_host::storage::{NamespacedStorage, StorageLimits, duration_ms};

use super::*;
use crate::postgres_testing::test_postgres_url;

/// A clock that only moves when told to, so expiry is tested without sleeping.
#[derive(Clone)]
struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    fn new() -> Self {
        Self(Arc::new(AtomicU64::new(1_700_000_000_000)))
    }

    fn clock(&self) -> Clock {
        let now = Arc::clone(&self.0);
        Arc::new(move || now.load(Ordering::SeqCst))
    }

    fn advance(&self, by: Duration) {
        self.0.fetch_add(duration_ms(by), Ordering::SeqCst);
    }
}

/// A backend under test, its clock, and what keeps its state alive: redb's directory,
/// PostgreSQL's schema of its own (dropped at the end).
struct Backend {
    storage: Arc<dyn TxStore>,
    clock: ManualClock,
    _dir: Option<tempfile::TempDir>,
    _schema: Option<postgres_testing::TestSchema>,
}

fn memory() -> Backend {
    let clock = ManualClock::new();
    Backend {
        storage: Arc::new(MemoryStorage::default().with_clock(clock.clock())),
        clock,
        _dir: None,
        _schema: None,
    }
}

fn redb() -> Backend {
    let clock = ManualClock::new();
    let dir = tempfile::tempdir().unwrap();
    let storage = RedbStorage::open(&dir.path().join("state.redb"))
        .unwrap()
        .with_clock(clock.clock());
    Backend {
        storage: Arc::new(storage),
        clock,
        _dir: Some(dir),
        _schema: None,
    }
}

/// A PostgreSQL store in a schema of its own (tests share one database, in parallel and
/// across test binaries, and checks such as `purge_expired` count the whole table), or
/// `None` when there is no PostgreSQL to test against (see `test_postgres_url`).
fn postgres() -> Option<Backend> {
    let url = test_postgres_url()?;
    let clock = ManualClock::new();
    let schema = postgres_testing::TestSchema::create(&url).unwrap();
    let storage = PostgresStorage::connect(schema.url())
        .unwrap()
        .with_clock(clock.clock());
    Some(Backend {
        storage: Arc::new(storage),
        clock,
        _dir: None,
        _schema: Some(schema),
    })
}

/// One `#[test]` per backend for each shared check.
macro_rules! for_each_backend {
    ($($check:ident),* $(,)?) => {
        mod memory_backend {
            $(#[test]
            fn $check() {
                let backend = super::memory();
                super::$check(backend.storage.as_ref(), &backend.clock);
            })*
        }
        mod redb_backend {
            $(#[test]
            fn $check() {
                let backend = super::redb();
                super::$check(backend.storage.as_ref(), &backend.clock);
            })*
        }
        mod postgres_backend {
            $(#[test]
            fn $check() {
                let Some(backend) = super::postgres() else { return };
                super::$check(backend.storage.as_ref(), &backend.clock);
            })*
        }
    };
}

for_each_backend!(
    get_set_delete,
    compare_and_swap_semantics,
    ttl_expiry_and_purge,
    ttl_zero_expires_immediately,
    namespaces_are_isolated,
    concurrent_cas_increments_are_exact,
    commit_applies_every_write_when_all_conditions_hold,
    commit_changes_nothing_when_a_condition_fails,
    commit_conditions_on_absent_keys,
    commit_treats_expired_values_as_absent,
    commit_deletes_and_orders_its_writes,
    commit_empty_and_one_sided_transactions,
    concurrent_commits_claim_each_id_once,
);

// The view needs an `Arc`, so this check takes the backend's `Arc` rather than `&dyn`.
#[test]
fn memory_backend_namespaced_view() {
    let backend = memory();
    namespaced_view_enforces_limits_and_isolation(&backend.storage, &backend.clock);
}

#[test]
fn redb_backend_namespaced_view() {
    let backend = redb();
    namespaced_view_enforces_limits_and_isolation(&backend.storage, &backend.clock);
}

#[test]
fn postgres_backend_namespaced_view() {
    let Some(backend) = postgres() else { return };
    namespaced_view_enforces_limits_and_isolation(&backend.storage, &backend.clock);
}

fn some(bytes: &[u8]) -> Option<Vec<u8>> {
    Some(bytes.to_vec())
}

fn get_set_delete(s: &dyn TxStore, _clock: &ManualClock) {
    assert_eq!(s.get("ns", "k").unwrap(), None);
    s.set("ns", "k", b"one", None).unwrap();
    assert_eq!(s.get("ns", "k").unwrap(), some(b"one"));
    s.set("ns", "k", b"two", None).unwrap();
    assert_eq!(s.get("ns", "k").unwrap(), some(b"two"));
    // An empty value is a value, not absence.
    s.set("ns", "empty", b"", None).unwrap();
    assert_eq!(s.get("ns", "empty").unwrap(), some(b""));
    assert_eq!(s.keys("ns").unwrap(), ["empty", "k"]);

    assert!(s.delete("ns", "k").unwrap());
    assert!(!s.delete("ns", "k").unwrap());
    assert_eq!(s.get("ns", "k").unwrap(), None);
    assert!(s.delete("ns", "empty").unwrap());
    assert!(s.keys("ns").unwrap().is_empty());
}

fn compare_and_swap_semantics(s: &dyn TxStore, _clock: &ManualClock) {
    // Insert-if-absent: only the first one wins.
    assert!(
        s.compare_and_swap("ns", "k", None, Some(b"a"), None)
            .unwrap()
    );
    assert!(
        !s.compare_and_swap("ns", "k", None, Some(b"b"), None)
            .unwrap()
    );
    assert_eq!(s.get("ns", "k").unwrap(), some(b"a"));

    // Wrong expected value: nothing changes.
    assert!(
        !s.compare_and_swap("ns", "k", Some(b"x"), Some(b"b"), None)
            .unwrap()
    );
    assert!(
        !s.compare_and_swap("ns", "k", Some(b""), None, None)
            .unwrap()
    );
    assert_eq!(s.get("ns", "k").unwrap(), some(b"a"));

    // Right expected value: swapped.
    assert!(
        s.compare_and_swap("ns", "k", Some(b"a"), Some(b"b"), None)
            .unwrap()
    );
    assert_eq!(s.get("ns", "k").unwrap(), some(b"b"));

    // CAS delete.
    assert!(
        s.compare_and_swap("ns", "k", Some(b"b"), None, None)
            .unwrap()
    );
    assert_eq!(s.get("ns", "k").unwrap(), None);
    assert!(s.keys("ns").unwrap().is_empty());

    // Expecting a value where there is none fails; expecting none and writing none is a
    // successful no-op.
    assert!(
        !s.compare_and_swap("ns", "k", Some(b"b"), Some(b"c"), None)
            .unwrap()
    );
    assert!(s.compare_and_swap("ns", "k", None, None, None).unwrap());
    assert_eq!(s.get("ns", "k").unwrap(), None);

    // An empty value is distinct from absence for CAS too.
    s.set("ns", "e", b"", None).unwrap();
    assert!(
        !s.compare_and_swap("ns", "e", None, Some(b"x"), None)
            .unwrap()
    );
    assert!(
        s.compare_and_swap("ns", "e", Some(b""), Some(b"x"), None)
            .unwrap()
    );
}

fn ttl_expiry_and_purge(s: &dyn TxStore, clock: &ManualClock) {
    let ten = Some(Duration::from_secs(10));
    s.set("ns", "short", b"v", ten).unwrap();
    s.set("ns", "forever", b"v", None).unwrap();
    s.set("ns", "cleared", b"v", ten).unwrap();
    // Overwriting without a TTL removes the TTL.
    s.set("ns", "cleared", b"w", None).unwrap();
    s.set("other", "short", b"v", Some(Duration::from_secs(5)))
        .unwrap();

    clock.advance(Duration::from_millis(9_999));
    assert_eq!(s.get("ns", "short").unwrap(), some(b"v"));
    clock.advance(Duration::from_millis(1));
    // Expired at exactly the deadline.
    assert_eq!(s.get("ns", "short").unwrap(), None);
    assert_eq!(s.get("other", "short").unwrap(), None);
    assert_eq!(s.get("ns", "forever").unwrap(), some(b"v"));
    assert_eq!(s.get("ns", "cleared").unwrap(), some(b"w"));
    assert_eq!(s.keys("ns").unwrap(), ["cleared", "forever"]);

    // An expired entry is absent for CAS: `expected: None` matches it, a stale
    // `expected: Some` does not.
    assert!(
        !s.compare_and_swap("ns", "short", Some(b"v"), Some(b"x"), None)
            .unwrap()
    );
    assert!(
        s.compare_and_swap("ns", "short", None, Some(b"new"), ten)
            .unwrap()
    );
    assert_eq!(s.get("ns", "short").unwrap(), some(b"new"));

    // Deleting an expired entry reports that nothing was there.
    assert!(!s.delete("other", "short").unwrap());

    // Purge removes exactly the expired entries (the CAS-written one expires in 10 s).
    s.set("ns", "a", b"v", Some(Duration::from_secs(1)))
        .unwrap();
    s.set("other", "b", b"v", Some(Duration::from_secs(1)))
        .unwrap();
    clock.advance(Duration::from_secs(2));
    assert_eq!(s.purge_expired().unwrap(), 2);
    assert_eq!(s.purge_expired().unwrap(), 0);
    assert_eq!(s.keys("ns").unwrap(), ["cleared", "forever", "short"]);
    clock.advance(Duration::from_secs(8));
    assert_eq!(s.purge_expired().unwrap(), 1);
    assert_eq!(s.keys("ns").unwrap(), ["cleared", "forever"]);
    assert!(s.keys("other").unwrap().is_empty());

    // Huge TTLs saturate instead of overflowing.
    s.set("ns", "max", b"v", Some(Duration::MAX)).unwrap();
    clock.advance(Duration::from_secs(10 * 365 * 24 * 3600));
    assert_eq!(s.get("ns", "max").unwrap(), some(b"v"));
}

fn ttl_zero_expires_immediately(s: &dyn TxStore, _clock: &ManualClock) {
    s.set("ns", "k", b"old", None).unwrap();
    s.set("ns", "k", b"new", Some(Duration::ZERO)).unwrap();
    assert_eq!(s.get("ns", "k").unwrap(), None);
    assert!(!s.delete("ns", "k").unwrap());
    // Nothing was left behind to purge.
    assert_eq!(s.purge_expired().unwrap(), 0);

    // A CAS writing with TTL 0 succeeds and leaves the key absent.
    assert!(
        s.compare_and_swap("ns", "c", None, Some(b"v"), Some(Duration::ZERO))
            .unwrap()
    );
    assert_eq!(s.get("ns", "c").unwrap(), None);
    assert!(s.keys("ns").unwrap().is_empty());
}

fn namespaces_are_isolated(s: &dyn TxStore, _clock: &ManualClock) {
    // Pairs that would collide under naive "namespace + separator + key" joining.
    let writes: [(&str, &str, &[u8]); 8] = [
        ("a", "b\0c", b"1"),
        ("a\0b", "c", b"2"),
        ("ns", "x/y", b"3"),
        ("ns/x", "y", b"4"),
        ("a", "", b"5"),
        ("ab", "c", b"6"),
        ("tenant-é", "clé 🔑", b"7"),
        ("tenant-e", "clé 🔑", b"8"),
    ];
    for (ns, key, value) in writes {
        s.set(ns, key, value, None).unwrap();
    }
    for (ns, key, value) in writes {
        assert_eq!(s.get(ns, key).unwrap(), some(value), "{ns:?}/{key:?}");
    }
    assert_eq!(s.get("a", "bc").unwrap(), None);
    assert_eq!(s.get("a", "b").unwrap(), None);
    assert_eq!(s.get("ns", "x").unwrap(), None);
    assert_eq!(s.get("", "a").unwrap(), None);

    assert_eq!(s.keys("a").unwrap(), ["", "b\0c"]);
    assert_eq!(s.keys("a\0b").unwrap(), ["c"]);
    assert_eq!(s.keys("ab").unwrap(), ["c"]);
    assert_eq!(s.keys("ns").unwrap(), ["x/y"]);
    assert_eq!(s.keys("tenant-é").unwrap(), ["clé 🔑"]);
    assert!(s.keys("missing").unwrap().is_empty());

    // Deletes and CAS stay in their namespace too.
    assert!(s.delete("a\0b", "c").unwrap());
    assert_eq!(s.get("a", "b\0c").unwrap(), some(b"1"));
    assert!(
        !s.compare_and_swap("tenant-e", "clé 🔑", Some(b"7"), None, None)
            .unwrap()
    );
    assert_eq!(s.get("tenant-e", "clé 🔑").unwrap(), some(b"8"));

    // Keys come back sorted by bytes.
    for key in ["zeta", "Alpha", "alpha", "ä", "0"] {
        s.set("sorted", key, b"", None).unwrap();
    }
    assert_eq!(
        s.keys("sorted").unwrap(),
        ["0", "Alpha", "alpha", "zeta", "ä"]
    );
}

fn concurrent_cas_increments_are_exact(s: &dyn TxStore, _clock: &ManualClock) {
    race_increments(&[s], "ns", 2, 100);
}

fn condition(namespace: &str, key: &str, expected: Option<&[u8]>) -> Condition {
    Condition {
        namespace: namespace.into(),
        key: key.into(),
        expected: expected.map(<[u8]>::to_vec),
    }
}

fn put(namespace: &str, key: &str, value: &[u8], ttl: Option<Duration>) -> Write {
    Write {
        namespace: namespace.into(),
        key: key.into(),
        value: Some(value.to_vec()),
        ttl,
    }
}

fn remove(namespace: &str, key: &str) -> Write {
    Write {
        namespace: namespace.into(),
        key: key.into(),
        value: None,
        ttl: None,
    }
}

fn transaction(conditions: Vec<Condition>, writes: Vec<Write>) -> Transaction {
    Transaction { conditions, writes }
}

fn commit_applies_every_write_when_all_conditions_hold(s: &dyn TxStore, _clock: &ManualClock) {
    s.set("ns", "a", b"1", None).unwrap();
    s.set("other", "b", b"2", None).unwrap();
    let t = transaction(
        vec![
            condition("ns", "a", Some(b"1")),
            condition("other", "b", Some(b"2")),
            condition("ns", "missing", None),
        ],
        vec![
            put("ns", "a", b"10", None),
            put("other", "c", b"3", None),
            put("third", "d", b"4", Some(Duration::from_secs(60))),
        ],
    );
    assert!(s.commit(&t).unwrap());
    assert_eq!(s.get("ns", "a").unwrap(), some(b"10"));
    assert_eq!(s.get("other", "b").unwrap(), some(b"2"));
    assert_eq!(s.get("other", "c").unwrap(), some(b"3"));
    assert_eq!(s.get("third", "d").unwrap(), some(b"4"));
    assert_eq!(s.keys("ns").unwrap(), ["a"]);
    // The same transaction again: its first condition no longer holds.
    assert!(!s.commit(&t).unwrap());
}

fn commit_changes_nothing_when_a_condition_fails(s: &dyn TxStore, _clock: &ManualClock) {
    s.set("ns", "a", b"1", None).unwrap();
    s.set("ns", "b", b"2", None).unwrap();
    let writes = vec![
        put("ns", "a", b"changed", None),
        remove("ns", "b"),
        put("ns", "new", b"v", None),
        put("elsewhere", "x", b"v", None),
    ];
    // Each failing condition comes last, after ones that hold: still nothing is written.
    let failing: [(&str, Option<&[u8]>); 5] = [
        ("b", Some(b"wrong")),
        ("b", None),
        ("b", Some(b"")),
        ("missing", Some(b"x")),
        ("missing", Some(b"")),
    ];
    for (key, expected) in failing {
        let t = transaction(
            vec![
                condition("ns", "a", Some(b"1")),
                condition("elsewhere", "x", None),
                condition("ns", key, expected),
            ],
            writes.clone(),
        );
        assert!(!s.commit(&t).unwrap(), "{t:?}");
        assert_eq!(s.get("ns", "a").unwrap(), some(b"1"));
        assert_eq!(s.get("ns", "b").unwrap(), some(b"2"));
        assert_eq!(s.keys("ns").unwrap(), ["a", "b"]);
        assert!(s.keys("elsewhere").unwrap().is_empty());
    }
    // A failing condition first, holding ones after: the same.
    let t = transaction(
        vec![condition("ns", "a", None), condition("ns", "b", Some(b"2"))],
        writes,
    );
    assert!(!s.commit(&t).unwrap());
    assert_eq!(s.keys("ns").unwrap(), ["a", "b"]);
}

fn commit_conditions_on_absent_keys(s: &dyn TxStore, _clock: &ManualClock) {
    // "Absent" holds once: the first claim wins, the identical second one fails.
    let claim = |who: &[u8]| {
        transaction(
            vec![condition("ns", "claim", None)],
            vec![
                put("ns", "claim", who, None),
                put("log", "claimed", who, None),
            ],
        )
    };
    assert!(s.commit(&claim(b"first")).unwrap());
    assert!(!s.commit(&claim(b"second")).unwrap());
    assert_eq!(s.get("ns", "claim").unwrap(), some(b"first"));
    assert_eq!(s.get("log", "claimed").unwrap(), some(b"first"));

    // Expecting a value where there is none fails.
    let t = transaction(
        vec![condition("ns", "never-written", Some(b"v"))],
        vec![put("ns", "x", b"v", None)],
    );
    assert!(!s.commit(&t).unwrap());
    // An empty value is present, not absent.
    s.set("ns", "empty", b"", None).unwrap();
    let t = transaction(
        vec![condition("ns", "empty", None)],
        vec![put("ns", "x", b"v", None)],
    );
    assert!(!s.commit(&t).unwrap());
    assert_eq!(s.get("ns", "x").unwrap(), None);
    let t = transaction(
        vec![condition("ns", "empty", Some(b""))],
        vec![put("ns", "x", b"v", None)],
    );
    assert!(s.commit(&t).unwrap());
    assert_eq!(s.get("ns", "x").unwrap(), some(b"v"));
    // A deleted key is absent again.
    assert!(s.delete("ns", "claim").unwrap());
    assert!(s.commit(&claim(b"third")).unwrap());
    assert_eq!(s.get("log", "claimed").unwrap(), some(b"third"));
    // Conditions in a namespace nobody wrote to hold when they expect absence.
    let t = transaction(
        vec![condition("untouched", "k", None)],
        vec![put("ns", "y", b"v", None)],
    );
    assert!(s.commit(&t).unwrap());
}

fn commit_treats_expired_values_as_absent(s: &dyn TxStore, clock: &ManualClock) {
    let ten = Some(Duration::from_secs(10));
    s.set("ns", "lease", b"holder-1", ten).unwrap();
    let take = |holder: &[u8]| {
        transaction(
            vec![condition("ns", "lease", None)],
            vec![put("ns", "lease", holder, ten)],
        )
    };
    let renew = |holder: &[u8]| {
        transaction(
            vec![condition("ns", "lease", Some(holder))],
            vec![put("ns", "renewed", holder, None)],
        )
    };
    assert!(!s.commit(&take(b"holder-2")).unwrap());
    clock.advance(Duration::from_millis(9_999));
    assert!(s.commit(&renew(b"holder-1")).unwrap());
    clock.advance(Duration::from_millis(1));
    // Expired at exactly the deadline: the old value no longer matches, absence does.
    assert!(!s.commit(&renew(b"holder-1")).unwrap());
    assert!(s.commit(&take(b"holder-2")).unwrap());
    assert_eq!(s.get("ns", "lease").unwrap(), some(b"holder-2"));

    // A write's TTL runs from the commit's clock.
    clock.advance(Duration::from_millis(9_999));
    assert_eq!(s.get("ns", "lease").unwrap(), some(b"holder-2"));
    clock.advance(Duration::from_millis(1));
    assert_eq!(s.get("ns", "lease").unwrap(), None);

    // A zero-TTL write acts as a delete and leaves nothing to purge: the only expired
    // entry left is the lease.
    s.set("ns", "gone", b"v", None).unwrap();
    let t = transaction(
        vec![],
        vec![
            put("ns", "gone", b"w", Some(Duration::ZERO)),
            put("ns", "never", b"w", Some(Duration::ZERO)),
        ],
    );
    assert!(s.commit(&t).unwrap());
    assert_eq!(s.get("ns", "gone").unwrap(), None);
    assert_eq!(s.keys("ns").unwrap(), ["renewed"]);
    assert_eq!(s.purge_expired().unwrap(), 1);
}

fn commit_deletes_and_orders_its_writes(s: &dyn TxStore, _clock: &ManualClock) {
    s.set("ns", "a", b"1", None).unwrap();
    s.set("ns", "b", b"2", None).unwrap();
    let t = transaction(
        vec![condition("ns", "a", Some(b"1"))],
        vec![
            remove("ns", "a"),
            remove("ns", "missing"),
            put("ns", "c", b"3", None),
            remove("ns", "b"),
        ],
    );
    assert!(s.commit(&t).unwrap());
    assert_eq!(s.keys("ns").unwrap(), ["c"]);

    // Writes apply in order: the last one to a key wins.
    let t = transaction(vec![], vec![put("ns", "x", b"v", None), remove("ns", "x")]);
    assert!(s.commit(&t).unwrap());
    assert_eq!(s.get("ns", "x").unwrap(), None);
    let t = transaction(
        vec![],
        vec![
            remove("ns", "c"),
            put("ns", "c", b"again", None),
            put("ns", "d", b"first", None),
            put("ns", "d", b"second", None),
        ],
    );
    assert!(s.commit(&t).unwrap());
    assert_eq!(s.get("ns", "c").unwrap(), some(b"again"));
    assert_eq!(s.get("ns", "d").unwrap(), some(b"second"));
    // A write may change the key its condition read.
    let t = transaction(
        vec![condition("ns", "d", Some(b"second"))],
        vec![remove("ns", "d")],
    );
    assert!(s.commit(&t).unwrap());
    assert_eq!(s.keys("ns").unwrap(), ["c"]);
}

fn commit_empty_and_one_sided_transactions(s: &dyn TxStore, _clock: &ManualClock) {
    let empty = Transaction::default();
    assert!(empty.is_empty());
    assert!(s.commit(&empty).unwrap());
    assert!(s.keys("ns").unwrap().is_empty());

    // Conditions only: the answer says whether they hold; nothing is written.
    s.set("ns", "a", b"1", None).unwrap();
    let holds = transaction(vec![condition("ns", "a", Some(b"1"))], vec![]);
    assert!(!holds.is_empty());
    assert!(s.commit(&holds).unwrap());
    assert!(
        !s.commit(&transaction(vec![condition("ns", "a", None)], vec![]))
            .unwrap()
    );
    assert_eq!(s.keys("ns").unwrap(), ["a"]);

    // Writes only: applied unconditionally.
    let t = transaction(vec![], vec![put("ns", "b", b"2", None), remove("ns", "a")]);
    assert!(s.commit(&t).unwrap());
    assert_eq!(s.keys("ns").unwrap(), ["b"]);
}

/// Threads race to claim ids with `commit` (condition: unclaimed; writes: the claim and
/// an entry in the winner's own log). Every id is claimed exactly once, and every
/// claim's log entry exists exactly for its winner.
fn race_claims(stores: &[&dyn TxStore], namespace: &str, threads_per_store: usize, ids: usize) {
    let claims = format!("{namespace}-claims");
    let wins: Vec<Vec<usize>> = std::thread::scope(|scope| {
        let handles: Vec<_> = stores
            .iter()
            .flat_map(|s| std::iter::repeat_n(*s, threads_per_store))
            .enumerate()
            .map(|(thread, s)| {
                let claims = &claims;
                scope.spawn(move || {
                    let me = format!("thread-{thread}");
                    let log = format!("{namespace}-log-{thread}");
                    let mut won = Vec::new();
                    // Each thread starts at a different id so that they collide all over.
                    for i in (0..ids).map(|i| (i + thread * 7) % ids) {
                        let id = format!("id-{i:04}");
                        let t = transaction(
                            vec![condition(claims, &id, None)],
                            vec![
                                put(claims, &id, me.as_bytes(), None),
                                put(&log, &id, b"", None),
                            ],
                        );
                        if s.commit(&t).unwrap() {
                            won.push(i);
                        }
                    }
                    won
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<usize> = wins.iter().flatten().copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (0..ids).collect::<Vec<_>>(),
        "each id won exactly once"
    );
    for (thread, won) in wins.iter().enumerate() {
        let log = format!("{namespace}-log-{thread}");
        let mut expected: Vec<String> = won.iter().map(|i| format!("id-{i:04}")).collect();
        expected.sort();
        assert_eq!(stores[0].keys(&log).unwrap(), expected, "{log}");
        for i in won {
            assert_eq!(
                stores[0].get(&claims, &format!("id-{i:04}")).unwrap(),
                Some(format!("thread-{thread}").into_bytes())
            );
        }
    }
}

fn concurrent_commits_claim_each_id_once(s: &dyn TxStore, _clock: &ManualClock) {
    race_claims(&[s], "ns", 4, 40);
}

/// Threads on each store increment one counter with compare-and-swap: no increment
/// is lost or counted twice.
fn race_increments(
    stores: &[&dyn TxStore],
    namespace: &str,
    threads_per_store: usize,
    per_thread: u64,
) {
    let read = |s: &dyn TxStore| -> Option<u64> {
        s.get(namespace, "counter")
            .unwrap()
            .map(|bytes| u64::from_le_bytes(bytes.try_into().unwrap()))
    };
    std::thread::scope(|scope| {
        for s in stores {
            for _ in 0..threads_per_store {
                scope.spawn(|| {
                    for _ in 0..per_thread {
                        loop {
                            let current = read(*s);
                            let expected = current.map(u64::to_le_bytes);
                            let next = current.unwrap_or(0) + 1;
                            let swapped = s
                                .compare_and_swap(
                                    namespace,
                                    "counter",
                                    expected.as_ref().map(|b| b.as_slice()),
                                    Some(&next.to_le_bytes()),
                                    None,
                                )
                                .unwrap();
                            if swapped {
                                break;
                            }
                        }
                    }
                });
            }
        }
    });
    let threads = u64::try_from(stores.len() * threads_per_store).unwrap();
    assert_eq!(read(stores[0]), Some(threads * per_thread));
}

fn namespaced_view_enforces_limits_and_isolation(backend: &Arc<dyn TxStore>, clock: &ManualClock) {
    let limits = StorageLimits {
        max_key_bytes: 8,
        max_value_bytes: 4,
        max_ttl: Duration::from_secs(60),
    };
    let view = |ns: &str| {
        NamespacedStorage::new(Arc::clone(backend) as Arc<dyn KvStore>, ns, limits.clone()).unwrap()
    };
    let (github, gitlab) = (view("github-1"), view("gitlab-1"));
    assert_eq!(github.namespace(), "github-1");

    github.set("k", b"gh", None).unwrap();
    gitlab.set("k", b"gl", None).unwrap();
    assert_eq!(github.get("k").unwrap(), some(b"gh"));
    assert_eq!(gitlab.get("k").unwrap(), some(b"gl"));
    assert!(github.delete("k").unwrap());
    assert_eq!(gitlab.get("k").unwrap(), some(b"gl"));
    assert!(
        github
            .compare_and_swap("k", None, Some(b"new"), None)
            .unwrap()
    );
    assert_eq!(backend.keys("github-1").unwrap(), ["k"]);

    // TTL in seconds, through to the backend's clock.
    github.set("t", b"v", Some(30)).unwrap();
    assert!(
        github
            .compare_and_swap("c", None, Some(b"v"), Some(60))
            .unwrap()
    );
    clock.advance(Duration::from_secs(29));
    assert_eq!(github.get("t").unwrap(), some(b"v"));
    clock.advance(Duration::from_secs(1));
    assert_eq!(github.get("t").unwrap(), None);
    assert_eq!(github.get("c").unwrap(), some(b"v"));
    clock.advance(Duration::from_secs(30));
    assert_eq!(github.get("c").unwrap(), None);
    github.set("z", b"v", Some(0)).unwrap();
    assert_eq!(github.get("z").unwrap(), None);

    // Limits: the view refuses before the backend is touched.
    let too_large = |result: Result<(), StorageError>, message: &str| match result {
        Err(StorageError::TooLarge(m)) => assert_eq!(m, message),
        other => panic!("expected TooLarge({message:?}), got {other:?}"),
    };
    too_large(
        github.set("123456789", b"v", None),
        "storage key is 9 bytes; the limit is 8",
    );
    too_large(
        github.get("123456789").map(drop),
        "storage key is 9 bytes; the limit is 8",
    );
    too_large(
        github.delete("").map(drop),
        "storage key is empty; keys must be 1 to 8 bytes",
    );
    // Bytes, not characters: four 2-byte characters plus one is 9 bytes.
    too_large(
        github.set("éééé1", b"v", None),
        "storage key is 9 bytes; the limit is 8",
    );
    too_large(
        github.set("k", b"12345", None),
        "storage value is 5 bytes; the limit is 4",
    );
    too_large(
        github
            .compare_and_swap("k", Some(b"new"), Some(b"12345"), None)
            .map(drop),
        "storage value is 5 bytes; the limit is 4",
    );
    too_large(
        github.set("k", b"v", Some(61)),
        "storage ttl is 61 seconds; the limit is 60",
    );
    too_large(
        github
            .compare_and_swap("k", None, Some(b"v"), Some(u32::MAX))
            .map(drop),
        "storage ttl is 4294967295 seconds; the limit is 60",
    );
    // Exactly at the limits is fine; a large expected value is only compared.
    github.set("12345678", b"1234", Some(60)).unwrap();
    assert!(
        !github
            .compare_and_swap("12345678", Some(b"123456"), None, None)
            .unwrap()
    );
    assert!(
        github
            .compare_and_swap("12345678", Some(b"1234"), None, None)
            .unwrap()
    );
    assert_eq!(backend.keys("github-1").unwrap(), ["k"]);
    assert_eq!(github.get("k").unwrap(), some(b"new"));
}

#[test]
fn namespaced_view_rejects_an_empty_namespace() {
    let backend: Arc<dyn TxStore> = Arc::new(MemoryStorage::default());
    let error = NamespacedStorage::new(backend, "", StorageLimits::default()).unwrap_err();
    assert!(
        matches!(&error, StorageError::Unavailable(m) if m.contains("must not be empty")),
        "{error:?}"
    );
}

#[test]
fn default_limits_and_their_config_form() {
    use serde::Deserialize;
    use serde::de::value::{Error, MapDeserializer};

    let defaults = StorageLimits::default();
    assert_eq!(defaults.max_key_bytes, 512);
    assert_eq!(defaults.max_value_bytes, 1024 * 1024);
    assert_eq!(defaults.max_ttl, Duration::from_secs(400 * 86_400));

    let parse = |fields: Vec<(&'static str, u64)>| {
        StorageLimits::deserialize(MapDeserializer::<_, Error>::new(fields.into_iter()))
    };
    assert_eq!(parse(vec![]).unwrap(), defaults);
    let parsed = parse(vec![("max_key_bytes", 100), ("max_ttl_seconds", 3600)]).unwrap();
    assert_eq!(
        parsed,
        StorageLimits {
            max_key_bytes: 100,
            max_ttl: Duration::from_secs(3600),
            ..defaults
        }
    );
    assert!(
        parse(vec![("max_key_byte", 100)]).is_err(),
        "typos are refused"
    );
    assert!(StorageError::TooLarge("x".into()).to_string() == "x");
}

#[test]
fn redb_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let clock = ManualClock::new();
    {
        let storage = RedbStorage::open(&path).unwrap().with_clock(clock.clock());
        assert_eq!(storage.path(), path);
        storage.set("ns", "kept", b"value", None).unwrap();
        storage
            .set("ns", "expiring", b"value", Some(Duration::from_secs(10)))
            .unwrap();
        storage.set("ns", "deleted", b"value", None).unwrap();
        assert!(storage.delete("ns", "deleted").unwrap());
    }
    let storage = RedbStorage::open(&path).unwrap().with_clock(clock.clock());
    assert_eq!(storage.get("ns", "kept").unwrap(), some(b"value"));
    assert_eq!(storage.get("ns", "expiring").unwrap(), some(b"value"));
    assert_eq!(storage.get("ns", "deleted").unwrap(), None);
    // The deadline was stored with the value.
    clock.advance(Duration::from_secs(10));
    assert_eq!(storage.get("ns", "expiring").unwrap(), None);
    assert_eq!(storage.purge_expired().unwrap(), 1);
}

#[test]
fn redb_second_open_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    let _first = RedbStorage::open(&path).unwrap();
    let error = RedbStorage::open(&path).unwrap_err();
    assert!(
        matches!(&error, StorageError::Unavailable(m) if m.contains("already open")),
        "{error:?}"
    );
}

#[test]
fn redb_bad_files_are_unavailable_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.redb");
    std::fs::write(&garbage, vec![0xa5_u8; 64 * 1024]).unwrap();
    let error = RedbStorage::open(&garbage).unwrap_err();
    assert!(
        matches!(&error, StorageError::Unavailable(m) if m.contains("cannot open")),
        "{error:?}"
    );

    let missing = dir.path().join("no-such-dir").join("state.redb");
    let error = RedbStorage::open(&missing).unwrap_err();
    assert!(
        matches!(&error, StorageError::Unavailable(m) if m.contains("cannot open")),
        "{error:?}"
    );
}

/// Set in the child process of `redb_killed_process_keeps_committed_writes`: the
/// database file the child writes to before aborting.
const KILLED_CHILD_DB: &str = "HOST_HARNESS_STORAGE_KILLED_CHILD_DB";
const KILLED_CHILD_KEYS: usize = 25;

/// Does nothing in a normal run. In the child, writes keys one committed transaction
/// at a time, then aborts without dropping anything (no destructors, no clean close).
#[test]
fn killed_process_child_helper() {
    let Some(path) = std::env::var_os(KILLED_CHILD_DB) else {
        return;
    };
    let storage = RedbStorage::open(Path::new(&path)).unwrap();
    for i in 0..KILLED_CHILD_KEYS {
        storage
            .set(
                "ns",
                &format!("key-{i:03}"),
                format!("value-{i}").as_bytes(),
                None,
            )
            .unwrap();
    }
    println!("child committed {KILLED_CHILD_KEYS} keys");
    std::process::abort();
}

#[test]
fn redb_killed_process_keeps_committed_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.redb");
    // The harness names tests by module path without the crate name.
    let module = module_path!().split_once("::").map_or("", |(_, rest)| rest);
    let helper = format!("{module}::killed_process_child_helper");
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &helper, "--nocapture", "--test-threads=1"])
        .env(KILLED_CHILD_DB, &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.contains(&format!("child committed {KILLED_CHILD_KEYS} keys")),
        "the child did not run the helper: {stdout}\n{stderr}"
    );
    assert!(!output.status.success(), "the child should have aborted");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            output.status.signal(),
            Some(6),
            "SIGABRT expected: {:?}",
            output.status
        );
    }

    // The lock died with the process; the reopen repairs and finds every commit.
    let storage = RedbStorage::open(&path).unwrap();
    let keys = storage.keys("ns").unwrap();
    assert_eq!(keys.len(), KILLED_CHILD_KEYS);
    for i in 0..KILLED_CHILD_KEYS {
        assert_eq!(
            storage.get("ns", &format!("key-{i:03}")).unwrap(),
            Some(format!("value-{i}").into_bytes())
        );
    }
    storage.set("ns", "after", b"ok", None).unwrap();
}

// PostgreSQL: several stores (as several host processes would have) on one database,
// connection failures, and the pool.

/// `url` with `password` inserted, or `None` when it already has one (it then stays,
/// since the server may need it).
fn with_password(url: &str, password: &str) -> String {
    if url.contains("://") {
        let mut parsed = url::Url::parse(url).unwrap();
        if parsed.password().is_none() {
            parsed.set_password(Some(password)).unwrap();
        }
        parsed.to_string()
    } else if url.contains("password=") {
        url.to_owned()
    } else {
        format!("{url} password={password}")
    }
}

/// The password of a connection string, as written.
fn password_of(url: &str) -> String {
    url.parse::<postgres::Config>()
        .unwrap()
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .unwrap()
}

/// `url` with one more query parameter (URL form) or key-value pair.
fn with_parameter(url: &str, key: &str, value: &str) -> String {
    if url.contains("://") {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}{key}={value}")
    } else {
        format!("{url} {key}={value}")
    }
}

/// Two stores, standing for two host processes, on the default schema of the shared
/// database (this test writes no TTLs and purges nothing, so it needs no schema of its
/// own): 8 threads each race compare-and-swap increments on one counter, then
/// `commit` claims of 60 ids. Every increment counts exactly once; every id is claimed
/// exactly once, with the winner's log entry written in the same transaction.
#[test]
fn postgres_two_stores_race_increments_and_claims() {
    let Some(url) = test_postgres_url() else {
        return;
    };
    let first = PostgresStorage::connect(&url).unwrap();
    let second = PostgresStorage::connect(&url).unwrap();
    let namespace = postgres_testing::unique_name("race");
    let stores: [&dyn TxStore; 2] = [&first, &second];

    let started = std::time::Instant::now();
    race_increments(&stores, &namespace, 8, 15);
    let increments = started.elapsed();
    let started = std::time::Instant::now();
    race_claims(&stores, &namespace, 8, 60);
    eprintln!(
        "postgres race: 240 increments in {increments:?}, 16 threads x 60 claims in {:?}",
        started.elapsed()
    );

    // Clean up the shared schema: this test's namespaces only.
    let mut namespaces = vec![namespace.clone(), format!("{namespace}-claims")];
    namespaces.extend((0..16).map(|thread| format!("{namespace}-log-{thread}")));
    for ns in namespaces {
        for key in first.keys(&ns).unwrap() {
            first.delete(&ns, &key).unwrap();
        }
        assert!(second.keys(&ns).unwrap().is_empty());
    }
}

/// Stores in other processes see each other's writes, including TTLs written against
/// the writer's clock.
#[test]
fn postgres_two_stores_share_state() {
    let Some(url) = test_postgres_url() else {
        return;
    };
    // A schema of its own: the entries' deadlines are on the manual clock, in 2023, and
    // a `purge_expired` on the wall clock by another test would take them.
    let schema = postgres_testing::TestSchema::create(&url).unwrap();
    let clock = ManualClock::new();
    let writer = PostgresStorage::connect(schema.url())
        .unwrap()
        .with_clock(clock.clock());
    let reader = PostgresStorage::connect(schema.url())
        .unwrap()
        .with_clock(clock.clock());
    let ns = postgres_testing::unique_name("shared");
    writer.set(&ns, "k", b"v", None).unwrap();
    writer
        .set(&ns, "t", b"v", Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(reader.get(&ns, "k").unwrap(), some(b"v"));
    assert_eq!(reader.keys(&ns).unwrap(), ["k", "t"]);
    assert!(
        reader
            .compare_and_swap(&ns, "k", Some(b"v"), Some(b"w"), None)
            .unwrap()
    );
    assert_eq!(writer.get(&ns, "k").unwrap(), some(b"w"));
    clock.advance(Duration::from_secs(5));
    assert_eq!(reader.get(&ns, "t").unwrap(), None);
    assert!(reader.delete(&ns, "k").unwrap());
    assert!(!writer.delete(&ns, "t").unwrap());
    assert!(writer.keys(&ns).unwrap().is_empty());
}

#[test]
fn postgres_refused_connection_is_unavailable_without_the_password() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    // Needs no server.
    let started = std::time::Instant::now();
    let error =
        PostgresStorage::connect("postgres://alice:hunter2-secret@127.0.0.1:1/db").unwrap_err();
    let StorageError::Unavailable(message) = &error else {
        panic!("expected Unavailable, got {error:?}");
    };
    assert!(
        message.contains(
            "cannot connect to PostgreSQL storage at postgres://alice:***@127.0.0.1:1/db"
        ),
        "{message}"
    );
    assert!(message.contains("refused"), "{message}");
    assert!(!format!("{error:?}").contains("hunter2"), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // The password in key-value form and as a URL parameter stays hidden too.
    for url in [
        "host=127.0.0.1 port=1 user=alice password=hunter2-secret dbname=db",
        "postgres://alice@127.0.0.1:1/db?password=hunter2-secret",
    ] {
        let error = PostgresStorage::connect(url).unwrap_err();
        let text = format!("{error} {error:?}");
        assert!(text.contains("alice:***@127.0.0.1:1/db"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}

#[test]
fn postgres_invalid_url_is_unavailable_without_the_password() {
    for url in [
        "postgres://alice:hunter2-secret@127.0.0.1:not-a-port/db",
        "postgres://alice:hunter2-secret@127.0.0.1/db?sslmode=bogus",
        "postgres://alice:hunter2-secret@127.0.0.1/db?no_such_option=1",
        "host=127.0.0.1 password=hunter2-secret port=",
    ] {
        let error = PostgresStorage::connect(url).unwrap_err();
        let text = format!("{error} {error:?}");
        assert!(
            matches!(&error, StorageError::Unavailable(m) if m.starts_with("invalid PostgreSQL storage URL: invalid connection string")),
            "{url}: {error:?}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }
}

#[test]
fn postgres_debug_and_errors_hide_the_password() {
    let Some(url) = test_postgres_url() else {
        return;
    };
    // The test server trusts local connections, so a made-up password is never asked
    // for; a URL that has a real one keeps it.
    let url = with_password(&url, "hunter2-secret");
    let password = password_of(&url);
    let storage = PostgresStorage::connect(&url).unwrap();
    let debug = format!("{storage:?}");
    assert!(debug.contains("PostgresStorage"), "{debug}");
    assert!(debug.contains(":***@"), "{debug}");
    assert!(!debug.contains(&password), "{debug}");
    assert!(!storage.target().contains(&password));

    // A database that does not exist: a readable message, no password.
    let missing = postgres_testing::unique_name("no_such_db");
    let mut config = url::Url::parse(&url).unwrap();
    config.set_path(&missing);
    let error = PostgresStorage::connect(config.as_str()).unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(
        matches!(&error, StorageError::Unavailable(m) if m.contains(&format!("database \"{missing}\" does not exist"))),
        "{error:?}"
    );
    assert!(!text.contains(&password), "{text}");
}

/// The server ends every session of the store (as a restart or a network cut would):
/// each kind of operation still succeeds, on a fresh connection.
#[test]
fn postgres_recovers_when_the_server_drops_its_sessions() {
    let Some(url) = test_postgres_url() else {
        return;
    };
    let name = postgres_testing::unique_name("terminated");
    // A schema of its own, since this purges.
    let schema = postgres_testing::TestSchema::create(&url).unwrap();
    let storage =
        PostgresStorage::connect(&with_parameter(schema.url(), "application_name", &name))
            .unwrap()
            .with_max_connections(2);
    let ns = name.as_str();
    let terminate = || {
        postgres_testing::execute(
            &url,
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = '{name}'"
            ),
        )
        .unwrap();
        // pg_terminate_backend only signals; give the sessions a moment to go.
        std::thread::sleep(Duration::from_millis(100));
    };
    let operations: [(&str, &dyn Fn()); 7] = [
        ("set", &|| storage.set(ns, "k", b"v", None).unwrap()),
        ("get", &|| {
            assert_eq!(storage.get(ns, "k").unwrap(), some(b"v"))
        }),
        ("keys", &|| assert_eq!(storage.keys(ns).unwrap(), ["k"])),
        ("compare-and-swap", &|| {
            assert!(
                storage
                    .compare_and_swap(ns, "k", Some(b"v"), Some(b"w"), None)
                    .unwrap()
            );
        }),
        ("commit", &|| {
            let t = transaction(
                vec![condition(ns, "k", Some(b"w"))],
                vec![put(ns, "k", b"v", None)],
            );
            assert!(storage.commit(&t).unwrap());
        }),
        ("purge", &|| {
            storage.purge_expired().unwrap();
        }),
        ("delete", &|| assert!(storage.delete(ns, "k").unwrap())),
    ];
    for (operation, run) in operations {
        terminate();
        eprintln!("{operation} after the server ended the sessions");
        run();
    }
    assert!(format!("{storage:?}").contains("open_connections: Some(1)"));
}

/// Processes starting together against an empty schema all succeed; the table is
/// created once.
#[test]
fn postgres_concurrent_connects_create_the_table_once() {
    let Some(url) = test_postgres_url() else {
        return;
    };
    let schema = postgres_testing::TestSchema::create(&url).unwrap();
    let barrier = std::sync::Barrier::new(6);
    let stores: Vec<PostgresStorage> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    PostgresStorage::connect(schema.url()).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    stores[0].set("ns", "k", b"v", None).unwrap();
    for store in &stores {
        assert_eq!(store.get("ns", "k").unwrap(), some(b"v"));
    }
}

/// One connection serves eight threads in turn; the pool never opens more.
#[test]
fn postgres_small_pool_serves_many_threads() {
    let Some(url) = test_postgres_url() else {
        return;
    };
    let name = postgres_testing::unique_name("pool");
    let storage = PostgresStorage::connect(&with_parameter(&url, "application_name", &name))
        .unwrap()
        .with_max_connections(0);
    assert!(format!("{storage:?}").contains("max_connections: 1"));
    std::thread::scope(|scope| {
        for thread in 0..8 {
            let (storage, name) = (&storage, &name);
            scope.spawn(move || {
                for i in 0..10 {
                    let key = format!("{thread}-{i}");
                    storage.set(name, &key, b"v", None).unwrap();
                    assert_eq!(storage.get(name, &key).unwrap(), some(b"v"));
                    assert!(storage.delete(name, &key).unwrap());
                }
            });
        }
    });
    assert!(format!("{storage:?}").contains("open_connections: Some(1)"));
    assert!(storage.keys(&name).unwrap().is_empty());
}

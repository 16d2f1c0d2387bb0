//! Behaviour tests, run against every backend through `&dyn Storage`.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::*;

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
        self.0.fetch_add(super::duration_ms(by), Ordering::SeqCst);
    }
}

/// A backend under test, its clock, and (for redb) the directory keeping its file alive.
struct Backend {
    storage: Arc<dyn Storage>,
    clock: ManualClock,
    _dir: Option<tempfile::TempDir>,
}

fn memory() -> Backend {
    let clock = ManualClock::new();
    Backend {
        storage: Arc::new(MemoryStorage::default().with_clock(clock.clock())),
        clock,
        _dir: None,
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
    }
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
    };
}

for_each_backend!(
    get_set_delete,
    compare_and_swap_semantics,
    ttl_expiry_and_purge,
    ttl_zero_expires_immediately,
    namespaces_are_isolated,
    concurrent_cas_increments_are_exact,
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

fn some(bytes: &[u8]) -> Option<Vec<u8>> {
    Some(bytes.to_vec())
}

fn get_set_delete(s: &dyn Storage, _clock: &ManualClock) {
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

fn compare_and_swap_semantics(s: &dyn Storage, _clock: &ManualClock) {
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

fn ttl_expiry_and_purge(s: &dyn Storage, clock: &ManualClock) {
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

fn ttl_zero_expires_immediately(s: &dyn Storage, _clock: &ManualClock) {
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

fn namespaces_are_isolated(s: &dyn Storage, _clock: &ManualClock) {
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

fn concurrent_cas_increments_are_exact(s: &dyn Storage, _clock: &ManualClock) {
    const THREADS: u64 = 2;
    const PER_THREAD: u64 = 100;
    let read = |s: &dyn Storage| -> Option<u64> {
        s.get("ns", "counter")
            .unwrap()
            .map(|bytes| u64::from_le_bytes(bytes.try_into().unwrap()))
    };
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for _ in 0..PER_THREAD {
                    loop {
                        let current = read(s);
                        let expected = current.map(u64::to_le_bytes);
                        let next = current.unwrap_or(0) + 1;
                        let swapped = s
                            .compare_and_swap(
                                "ns",
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
    });
    assert_eq!(read(s), Some(THREADS * PER_THREAD));
}

fn namespaced_view_enforces_limits_and_isolation(backend: &Arc<dyn Storage>, clock: &ManualClock) {
    let limits = StorageLimits {
        max_key_bytes: 8,
        max_value_bytes: 4,
        max_ttl: Duration::from_secs(60),
    };
    let view = |ns: &str| NamespacedStorage::new(Arc::clone(backend), ns, limits.clone()).unwrap();
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
    let backend: Arc<dyn Storage> = Arc::new(MemoryStorage::default());
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

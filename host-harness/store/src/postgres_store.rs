//! The shared backend: one PostgreSQL table that several host processes use at once.

use std::error::Error as _;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use postgres::config::Host;
use postgres::error::SqlState;
use postgres::{Client, Config, GenericClient, IsolationLevel, NoTls, Statement};

use vcs_host::storage::{Clock, KvStore, StorageError, expires_at, is_expired, system_clock};

use crate::{Transaction, TxStore};

/// The only table. Versioned in its name so a future layout can live beside it.
macro_rules! table {
    () => {
        "vcs_provider_kv_v1"
    };
}

/// The table, created when missing. Namespace and key are `bytea`, not `text`: a
/// PostgreSQL `text` cannot hold a NUL character, which keys may contain, and `bytea`
/// compares by bytes, the order [`Storage::keys`] promises, whatever the collation.
/// The partial index serves [`Storage::purge_expired`].
const CREATE_TABLE: &str = concat!(
    "CREATE TABLE IF NOT EXISTS ",
    table!(),
    " (
        namespace bytea NOT NULL,
        key bytea NOT NULL,
        value bytea NOT NULL,
        expires_at_ms bigint,
        PRIMARY KEY (namespace, key)
    );
    CREATE INDEX IF NOT EXISTS ",
    table!(),
    "_expiry ON ",
    table!(),
    " (expires_at_ms) WHERE expires_at_ms IS NOT NULL;
    COMMENT ON TABLE ",
    table!(),
    " IS 'vcs:provider host storage: (namespace, key) -> value, both UTF-8 bytes; \
      expires_at_ms is a unix-millisecond deadline (NULL: never), at or after which the \
      entry reads as absent';"
);

/// Serialises concurrent schema creation across processes (`pg_advisory_xact_lock`):
/// two `CREATE TABLE IF NOT EXISTS` racing can otherwise fail on a catalog unique index.
/// The bytes spell "vcs_kv" and a layout version.
const SCHEMA_LOCK: i64 = 0x7663_735f_6b76_0001;

const GET: &str = concat!(
    "SELECT value FROM ",
    table!(),
    " WHERE namespace = $1 AND key = $2 AND (expires_at_ms IS NULL OR expires_at_ms > $3)"
);
const UPSERT: &str = concat!(
    "INSERT INTO ",
    table!(),
    " (namespace, key, value, expires_at_ms) VALUES ($1, $2, $3, $4)
     ON CONFLICT (namespace, key)
     DO UPDATE SET value = EXCLUDED.value, expires_at_ms = EXCLUDED.expires_at_ms"
);
const DELETE: &str = concat!(
    "DELETE FROM ",
    table!(),
    " WHERE namespace = $1 AND key = $2 RETURNING expires_at_ms"
);
const KEYS: &str = concat!(
    "SELECT key FROM ",
    table!(),
    " WHERE namespace = $1 AND (expires_at_ms IS NULL OR expires_at_ms > $2) ORDER BY key"
);
const PURGE: &str = concat!("DELETE FROM ", table!(), " WHERE expires_at_ms <= $1");

/// Every statement of a connection runs serializable (see [`PostgresStorage`]). Index
/// scans matter under serializable isolation: a sequential scan, which the planner
/// picks for small tables, takes a predicate lock on the whole table, so every
/// concurrent writer would conflict with every reader. All our statements have an
/// index to use.
const SESSION_SETUP: &str =
    "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE;
     SET enable_seqscan = off";

/// Connections a store opens at most, unless [`PostgresStorage::with_max_connections`]
/// says otherwise.
const DEFAULT_MAX_CONNECTIONS: usize = 8;
/// How long an operation waits for a connection when all are in use.
const POOL_WAIT: Duration = Duration::from_secs(30);
/// Applied when the URL sets no `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts of one operation that keeps meeting serialization failures or deadlocks.
const MAX_ATTEMPTS: u32 = 30;
/// Upper bound of the randomised pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(50);

/// A [`Storage`] in one PostgreSQL table: the backend for several host processes (or
/// machines) sharing state, where [`RedbStorage`](crate::RedbStorage) is locked to one
/// process.
///
/// [`PostgresStorage::connect`] creates the table `vcs_provider_kv_v1` if it is missing,
/// in the first schema of the connection's `search_path` (choose one with
/// `?options=-csearch_path%3Dmy_schema` in the URL). Namespace and key are stored as
/// `bytea` so every string, NUL included, round-trips and keys sort by bytes.
///
/// Every statement runs at `SERIALIZABLE` isolation, and compare-and-swap and
/// [`Storage::commit`] read their conditions and write inside one serializable
/// transaction, so they are atomic against every other process using the table, not
/// only against this process's threads. A transaction PostgreSQL aborts as a
/// serialization failure or deadlock (SQLSTATE 40001, 40P01) changed nothing and is
/// retried here, up to 30 times with a short random pause; a condition that does not
/// hold is `Ok(false)`, never an error. Expiry is computed with this store's [`Clock`],
/// passed to each query, not with the database's clock, so every host must keep its
/// clock reasonably in sync.
///
/// Connections are pooled: up to 8 by default ([`Self::with_max_connections`]), opened
/// on demand and kept for reuse, so many threads can share one store; an operation
/// waits (up to 30 s) when all are busy. A connection that broke (closed by the server,
/// I/O error) is dropped, not reused, and the idle ones are dropped with it since they
/// most likely died the same way. The operation is then retried once on a fresh
/// connection when that is harmless: always for reads and plain writes (idempotent),
/// and for the others (delete, compare-and-swap, commit, purge: each its own
/// transaction) when the session was found dead at `BEGIN`, before anything ran. A
/// connection lost in the middle of one of those is [`StorageError::Unavailable`]:
/// whether the server applied it cannot be known.
///
/// Connections are unencrypted (`NoTls`): the tested setup is a database on loopback or
/// a private network. Reaching a database over an untrusted network needs TLS, which
/// would mean adding `postgres-native-tls` or `postgres-rustls` and a TLS connector
/// here.
///
/// **Blocking.** The synchronous `postgres` client runs each connection on its own
/// small tokio runtime and blocks the calling thread. Calling it (or dropping the
/// store) from inside an async task panics or stalls the executor: async callers must
/// go through `tokio::task::spawn_blocking`, as `serve` does.
pub struct PostgresStorage {
    config: Config,
    /// The server as `postgres://user@host:port/dbname`: for messages and `Debug`; never
    /// contains the password.
    target: String,
    pool: Mutex<Pool>,
    /// Signalled whenever a connection is returned or closed.
    released: Condvar,
    max_connections: usize,
    clock: Clock,
}

/// The idle connections, and how many are open in all (idle plus leased).
struct Pool {
    idle: Vec<Connection>,
    open: usize,
}

impl Drop for Pool {
    fn drop(&mut self) {
        close(std::mem::take(&mut self.idle));
    }
}

/// Close connections. A `postgres::Client` blocks on its own runtime when dropped, which
/// panics on a thread that drives async tasks (a store may be dropped there when a host
/// shuts down), so inside a tokio runtime they are closed on a thread of their own.
fn close(connections: Vec<Connection>) {
    if connections.is_empty() {
        return;
    }
    if tokio::runtime::Handle::try_current().is_ok() {
        // If the thread cannot start, the closure (and so the connections) is dropped
        // here without running: ManuallyDrop keeps that from closing them on this thread.
        let connections = std::mem::ManuallyDrop::new(connections);
        let closer = std::thread::Builder::new()
            .name("postgres-close".into())
            .spawn(move || drop(std::mem::ManuallyDrop::into_inner(connections)));
        match closer {
            Ok(handle) => {
                let _ = handle.join();
            }
            // Without a thread, leak them: the server ends the sessions when the
            // process exits, which beats a panic.
            Err(error) => {
                tracing::warn!(%error, "cannot close PostgreSQL connections");
            }
        }
    } else {
        drop(connections);
    }
}

/// A client and its prepared statements (which belong to that session).
struct Connection {
    client: Client,
    statements: Statements,
}

struct Statements {
    get: Statement,
    upsert: Statement,
    delete: Statement,
    keys: Statement,
    purge: Statement,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (idle, open) = self
            .pool
            .try_lock()
            .map(|pool| (Some(pool.idle.len()), Some(pool.open)))
            .unwrap_or_default();
        f.debug_struct("PostgresStorage")
            .field("target", &self.target)
            .field("max_connections", &self.max_connections)
            .field("open_connections", &open)
            .field("idle_connections", &idle)
            .finish_non_exhaustive()
    }
}

/// Why one attempt of an operation failed.
struct Failure {
    error: postgres::Error,
    /// Nothing was executed before the failure (it happened at `BEGIN`), so the
    /// attempt can be repeated on another connection whatever the operation.
    before_any_statement: bool,
}

impl From<postgres::Error> for Failure {
    fn from(error: postgres::Error) -> Self {
        Self {
            error,
            before_any_statement: false,
        }
    }
}

/// Whether PostgreSQL aborted the transaction for a conflict with a concurrent one: it
/// changed nothing, and running it again may well succeed.
fn is_conflict(error: &postgres::Error) -> bool {
    matches!(
        error.code(),
        Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// Whether the session is gone: closed, an I/O or protocol failure (no SQLSTATE), a
/// connection exception (class 08) or the server shutting it down (57P01..57P03).
fn is_connection_lost(error: &postgres::Error, client: &Client) -> bool {
    if client.is_closed() || error.is_closed() {
        return true;
    }
    match error.code() {
        None => true,
        Some(code) => {
            let code = code.code();
            code.starts_with("08") || code.starts_with("57P")
        }
    }
}

/// An error as one line: PostgreSQL's own message and SQLSTATE for server errors, the
/// whole chain of causes otherwise (the client's `Display` alone says only "db error"
/// or "error connecting to server").
fn describe(error: &postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut text = format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
        if let Some(detail) = db.detail() {
            text.push_str("; ");
            text.push_str(detail);
        }
        return text;
    }
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Map an error of `operation` to ours: a value PostgreSQL cannot hold is `TooLarge`,
/// anything else `Unavailable`, naming the operation and the server.
fn backend_error(operation: &str, target: &str, error: &postgres::Error) -> StorageError {
    if error.code() == Some(&SqlState::PROGRAM_LIMIT_EXCEEDED) {
        return StorageError::TooLarge(format!(
            "storage entry is more than PostgreSQL can hold: {}",
            describe(error)
        ));
    }
    StorageError::Unavailable(format!(
        "storage {operation} failed on PostgreSQL {target}: {}",
        describe(error)
    ))
}

/// The server a configuration points at, as `postgres://user@host:port/dbname`. Built
/// from the parsed configuration rather than the URL, so no spelling of a password (in
/// the authority, in `?password=`, in `password=` of a key-value string) survives; a
/// password that is set shows as `***`.
fn describe_target(config: &Config) -> String {
    let user = config.get_user().unwrap_or_default();
    let password = if config.get_password().is_some() {
        ":***"
    } else {
        ""
    };
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let host = match host {
                Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                Host::Unix(path) => path.display().to_string(),
            };
            // One port for all hosts, or one each; 5432 when none is given.
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            format!("{host}:{port}")
        })
        .collect();
    let dbname = config.get_dbname().unwrap_or(user);
    format!("postgres://{user}{password}@{}/{dbname}", hosts.join(","))
}

/// Milliseconds as PostgreSQL's `bigint`, saturating: a deadline past year 292 million
/// is as good as never.
fn sql_ms(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// A stored deadline back in our terms; a negative one (written by someone else) is in
/// the past.
fn deadline_from_sql(ms: Option<i64>) -> Option<u64> {
    ms.map(|ms| u64::try_from(ms).unwrap_or(0))
}

/// A random pause before attempt `attempt + 1`: growing with the attempts, capped at
/// [`MAX_BACKOFF`], and jittered so that the transactions that collided do not collide
/// again in lockstep.
fn backoff(attempt: u32) {
    let ceiling = Duration::from_micros(500)
        .saturating_mul(1 << attempt.min(10))
        .min(MAX_BACKOFF);
    // `RandomState` is seeded randomly per process and per instance: enough for jitter,
    // without a dependency on a random number generator.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let micros = u64::try_from(ceiling.as_micros()).unwrap_or(u64::MAX);
    std::thread::sleep(Duration::from_micros(random % micros.max(1)));
}

/// Store `value`, or remove the key when the TTL has already run out (or `value` is
/// `None`), so an immediately-expired write leaves nothing behind to purge.
fn write(
    client: &mut impl GenericClient,
    statements: &Statements,
    namespace: &str,
    key: &str,
    value: Option<&[u8]>,
    ttl: Option<Duration>,
    now: u64,
) -> Result<(), postgres::Error> {
    let deadline = expires_at(now, ttl);
    let (namespace, key) = (namespace.as_bytes(), key.as_bytes());
    match value {
        Some(value) if !is_expired(deadline, now) => client.execute(
            &statements.upsert,
            &[&namespace, &key, &value, &deadline.map(sql_ms)],
        )?,
        _ => client.execute(&statements.delete, &[&namespace, &key])?,
    };
    Ok(())
}

/// The live value at `(namespace, key)` at `now`.
fn read(
    client: &mut impl GenericClient,
    statements: &Statements,
    namespace: &str,
    key: &str,
    now: u64,
) -> Result<Option<Vec<u8>>, postgres::Error> {
    let row = client.query_opt(
        &statements.get,
        &[&namespace.as_bytes(), &key.as_bytes(), &sql_ms(now)],
    )?;
    row.map(|row| row.try_get(0)).transpose()
}

impl PostgresStorage {
    /// Connect to the database at `url` and create the table if it is missing.
    ///
    /// `url` is a libpq-style connection string: a URL such as
    /// `postgres://user:password@host:5432/dbname?connect_timeout=5`, or key-value
    /// pairs (`host=... user=... dbname=...`). Without a `connect_timeout`, connecting
    /// gives up after 10 s; without an `application_name`, the sessions are named
    /// `vcs-provider-host`.
    ///
    /// A URL that does not parse, a server that cannot be reached, a failed login or
    /// missing rights to create the table are [`StorageError::Unavailable`], with a
    /// message naming the server but never the password. Blocks: see the type's docs
    /// on async callers.
    pub fn connect(url: &str) -> Result<Self, StorageError> {
        let mut config: Config = url.parse().map_err(|error| {
            StorageError::Unavailable(format!(
                "invalid PostgreSQL storage URL: {}",
                describe(&error)
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("vcs-provider-host");
        }
        let target = describe_target(&config);
        let mut client = open_client(&config, &target)?;
        ensure_table(&mut client).map_err(|error| {
            backend_error("initialisation (creating the table)", &target, &error)
        })?;
        let connection = prepare(client, &target)?;
        tracing::debug!(target = %target, "connected to PostgreSQL storage");
        Ok(Self {
            config,
            target,
            pool: Mutex::new(Pool {
                idle: vec![connection],
                open: 1,
            }),
            released: Condvar::new(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            clock: system_clock(),
        })
    }

    /// The same store reading time from `clock` (unix ms), so tests can expire entries
    /// without sleeping.
    #[must_use = "with_clock returns the store; the original is consumed"]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The same store opening at most `max` connections (at least 1; the default is 8).
    /// Every host process sharing the database has its own pool, so the server's
    /// `max_connections` must cover the sum.
    #[must_use = "with_max_connections returns the store; the original is consumed"]
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// The server, as `postgres://user@host:port/dbname` (a password shows as `***`).
    pub fn target(&self) -> &str {
        &self.target
    }

    fn now(&self) -> u64 {
        (self.clock)()
    }

    /// The pool's state. It is only counts and idle connections, consistent at every
    /// point where a panic could strike, so a poisoned lock is safe to use.
    fn pool(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle connection, a new one if fewer than the maximum are open, or else the
    /// first one released, waiting up to [`POOL_WAIT`].
    fn acquire(&self, operation: &str) -> Result<Lease<'_>, StorageError> {
        let deadline = Instant::now() + POOL_WAIT;
        let mut pool = self.pool();
        loop {
            while let Some(connection) = pool.idle.pop() {
                if !connection.client.is_closed() {
                    return Ok(Lease::new(self, connection));
                }
                pool.open = pool.open.saturating_sub(1);
            }
            if pool.open < self.max_connections {
                pool.open += 1;
                drop(pool);
                let opened = open_client(&self.config, &self.target)
                    .and_then(|client| prepare(client, &self.target));
                return match opened {
                    Ok(connection) => Ok(Lease::new(self, connection)),
                    Err(error) => {
                        self.pool().open -= 1;
                        self.released.notify_one();
                        Err(error)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StorageError::Unavailable(format!(
                    "storage {operation} failed: all {} connections to PostgreSQL {} stayed \
                     busy for {} s",
                    self.max_connections,
                    self.target,
                    POOL_WAIT.as_secs()
                )));
            }
            pool = self
                .released
                .wait_timeout(pool, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Take a connection back. A broken one is closed, and with it every idle one:
    /// when one session died (a server restart, a network cut), the others most likely
    /// did too, and finding out one failed operation at a time would be worse.
    fn release(&self, connection: Connection, broken: bool) {
        let mut pool = self.pool();
        let mut closing = Vec::new();
        if broken {
            closing.append(&mut pool.idle);
            closing.push(connection);
        } else if connection.client.is_closed() || pool.open > self.max_connections {
            closing.push(connection);
        } else {
            pool.idle.push(connection);
        }
        pool.open = pool.open.saturating_sub(closing.len());
        drop(pool);
        self.released.notify_all();
        // Closing talks to the server (or finds it gone): outside the lock.
        close(closing);
    }

    /// Run `body` on a pooled connection, retrying conflicts (serialization failures,
    /// deadlocks) up to [`MAX_ATTEMPTS`] times, and a lost connection once when that
    /// is harmless: for an `idempotent` operation, or when nothing had been executed.
    fn run<T>(
        &self,
        operation: &str,
        idempotent: bool,
        mut body: impl FnMut(&mut Connection) -> Result<T, Failure>,
    ) -> Result<T, StorageError> {
        let mut reconnected = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut lease = self.acquire(operation)?;
            let failure = match body(lease.connection()?) {
                Ok(value) => return Ok(value),
                Err(failure) => failure,
            };
            let lost = lease
                .connection()
                .is_ok_and(|c| is_connection_lost(&failure.error, &c.client));
            lease.broken = lost;
            drop(lease);
            if is_conflict(&failure.error) && attempt < MAX_ATTEMPTS {
                backoff(attempt);
                continue;
            }
            if lost && !reconnected && (idempotent || failure.before_any_statement) {
                tracing::debug!(
                    target = %self.target,
                    operation,
                    error = %describe(&failure.error),
                    "PostgreSQL connection lost; retrying on a new one"
                );
                reconnected = true;
                continue;
            }
            if is_conflict(&failure.error) {
                return Err(StorageError::Unavailable(format!(
                    "storage {operation} failed on PostgreSQL {}: still conflicting with \
                     concurrent transactions after {attempt} attempts: {}",
                    self.target,
                    describe(&failure.error)
                )));
            }
            return Err(backend_error(operation, &self.target, &failure.error));
        }
    }

    /// Run `body` inside one serializable transaction, committed when it returns; the
    /// result counts only once the commit succeeded (PostgreSQL guarantees serializable
    /// reads only for transactions that commit), so even an `Ok(false)` is committed.
    fn run_transaction<T>(
        &self,
        operation: &str,
        mut body: impl FnMut(&mut postgres::Transaction<'_>, &Statements) -> Result<T, postgres::Error>,
    ) -> Result<T, StorageError> {
        self.run(operation, false, |connection| {
            let Connection { client, statements } = connection;
            let mut transaction = client
                .build_transaction()
                .isolation_level(IsolationLevel::Serializable)
                .start()
                .map_err(|error| Failure {
                    error,
                    before_any_statement: true,
                })?;
            let result = body(&mut transaction, statements)?;
            transaction.commit()?;
            Ok(result)
        })
    }
}

/// A connection taken from the pool, given back (or closed, when `broken`) on drop.
struct Lease<'a> {
    store: &'a PostgresStorage,
    connection: Option<Connection>,
    broken: bool,
}

impl<'a> Lease<'a> {
    fn new(store: &'a PostgresStorage, connection: Connection) -> Self {
        Self {
            store,
            connection: Some(connection),
            broken: false,
        }
    }

    /// The leased connection; only `Drop` takes it out, so it is always there.
    fn connection(&mut self) -> Result<&mut Connection, StorageError> {
        self.connection.as_mut().ok_or_else(|| {
            StorageError::Unavailable("a PostgreSQL lease lost its connection".into())
        })
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            // A panic in the middle of an operation may leave a transaction open:
            // never hand such a session to the next caller.
            let broken = self.broken || std::thread::panicking();
            self.store.release(connection, broken);
        }
    }
}

/// A new session to the server, mapped to our error without the password.
fn open_client(config: &Config, target: &str) -> Result<Client, StorageError> {
    config.connect(NoTls).map_err(|error| {
        StorageError::Unavailable(format!(
            "cannot connect to PostgreSQL storage at {target}: {}",
            describe(&error)
        ))
    })
}

/// Set the session up and prepare the statements once per connection.
fn prepare(mut client: Client, target: &str) -> Result<Connection, StorageError> {
    let mut setup = || -> Result<Statements, postgres::Error> {
        client.batch_execute(SESSION_SETUP)?;
        Ok(Statements {
            get: client.prepare(GET)?,
            upsert: client.prepare(UPSERT)?,
            delete: client.prepare(DELETE)?,
            keys: client.prepare(KEYS)?,
            purge: client.prepare(PURGE)?,
        })
    };
    let statements = setup()
        .map_err(|error| backend_error("initialisation (preparing a session)", target, &error))?;
    Ok(Connection { client, statements })
}

/// Create the table unless it exists. Checking first spares the rights to create
/// tables to a deployment whose table an administrator created; the advisory lock
/// makes processes starting together create it once.
fn ensure_table(client: &mut Client) -> Result<(), postgres::Error> {
    let exists: bool = client
        .query_one(
            concat!("SELECT to_regclass('", table!(), "') IS NOT NULL"),
            &[],
        )?
        .get(0);
    if exists {
        return Ok(());
    }
    let mut transaction = client.transaction()?;
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
    transaction.batch_execute(CREATE_TABLE)?;
    transaction.commit()
}

impl KvStore for PostgresStorage {
    fn get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let now = self.now();
        self.run("read", true, |Connection { client, statements }| {
            Ok(read(client, statements, namespace, key, now)?)
        })
    }

    fn set(
        &self,
        namespace: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StorageError> {
        let now = self.now();
        // Idempotent: writing the same value and deadline twice is writing it once.
        self.run("write", true, |Connection { client, statements }| {
            Ok(write(
                client,
                statements,
                namespace,
                key,
                Some(value),
                ttl,
                now,
            )?)
        })
    }

    fn delete(&self, namespace: &str, key: &str) -> Result<bool, StorageError> {
        let now = self.now();
        self.run_transaction("delete", |transaction, statements| {
            let removed = transaction.query_opt(
                &statements.delete,
                &[&namespace.as_bytes(), &key.as_bytes()],
            )?;
            Ok(match removed {
                Some(row) => !is_expired(deadline_from_sql(row.try_get(0)?), now),
                None => false,
            })
        })
    }

    fn compare_and_swap(
        &self,
        namespace: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
        ttl: Option<Duration>,
    ) -> Result<bool, StorageError> {
        let now = self.now();
        self.run_transaction("compare-and-swap", |transaction, statements| {
            let current = read(transaction, statements, namespace, key, now)?;
            if current.as_deref() != expected {
                return Ok(false);
            }
            write(transaction, statements, namespace, key, new, ttl, now)?;
            Ok(true)
        })
    }
}

impl TxStore for PostgresStorage {
    fn purge_expired(&self) -> Result<u64, StorageError> {
        let now = self.now();
        let purged = self.run_transaction("purge", |transaction, statements| {
            transaction.execute(&statements.purge, &[&sql_ms(now)])
        })?;
        tracing::debug!(purged, target = %self.target, "purged expired storage entries");
        Ok(purged)
    }

    fn keys(&self, namespace: &str) -> Result<Vec<String>, StorageError> {
        let now = self.now();
        let rows = self.run("read", true, |Connection { client, statements }| {
            Ok(client.query(&statements.keys, &[&namespace.as_bytes(), &sql_ms(now)])?)
        })?;
        rows.iter()
            .map(|row| {
                let key: Vec<u8> = row
                    .try_get(0)
                    .map_err(|error| backend_error("read", &self.target, &error))?;
                String::from_utf8(key).map_err(|_| {
                    StorageError::Unavailable(format!(
                        "storage read failed on PostgreSQL {}: a key in namespace {namespace:?} \
                         is not UTF-8 (written by something other than this host)",
                        self.target
                    ))
                })
            })
            .collect()
    }

    fn commit(&self, transaction: &Transaction) -> Result<bool, StorageError> {
        if transaction.is_empty() {
            return Ok(true);
        }
        let now = self.now();
        self.run_transaction("transaction", |db, statements| {
            for c in &transaction.conditions {
                let current = read(db, statements, &c.namespace, &c.key, now)?;
                if current != c.expected {
                    return Ok(false);
                }
            }
            for w in &transaction.writes {
                write(
                    db,
                    statements,
                    &w.namespace,
                    &w.key,
                    w.value.as_deref(),
                    w.ttl,
                    now,
                )?;
            }
            Ok(true)
        })
    }
}

/// Helpers for tests of this crate and of the workspace's test crate that need a real
/// PostgreSQL. Not part of the host's API.
#[doc(hidden)]
pub mod testing {
    use std::path::Path;
    use std::process::Command;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};

    use super::{StorageError, describe};

    /// The variable naming the database the tests use; when unset, the tests start
    /// `scripts/postgres-test-server` and use its URL.
    pub const URL_VARIABLE: &str = "HOST_HARNESS_POSTGRES_URL";

    /// The URL of a PostgreSQL for tests: `$HOST_HARNESS_POSTGRES_URL`, else the one
    /// `scripts/postgres-test-server` starts (once per process). `None` means the test
    /// should return early: it prints a loud "skipped" line saying why. When the
    /// variable `CI` is set, a missing database is a failure instead: this panics.
    pub fn test_postgres_url() -> Option<String> {
        static FOUND: OnceLock<Result<String, String>> = OnceLock::new();
        match FOUND.get_or_init(find_url) {
            Ok(url) => Some(url.clone()),
            Err(why) => {
                let ci = std::env::var_os("CI").is_some_and(|value| !value.is_empty());
                assert!(
                    !ci,
                    "no PostgreSQL for the tests, and CI is set so this is a failure: {why}\n\
                     Install postgresql (apt-get install postgresql) or set {URL_VARIABLE}."
                );
                eprintln!(
                    "\n*** skipped: no PostgreSQL (install postgresql or set {URL_VARIABLE}) ***\n\
                     *** {why} ***\n"
                );
                None
            }
        }
    }

    fn find_url() -> Result<String, String> {
        if let Some(url) = std::env::var(URL_VARIABLE)
            .ok()
            .filter(|url| !url.trim().is_empty())
        {
            return Ok(url.trim().to_owned());
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres-test-server");
        if !script.is_file() {
            return Err(format!(
                "{URL_VARIABLE} is unset and {} does not exist",
                script.display()
            ));
        }
        let output = Command::new("bash")
            .arg(&script)
            .output()
            .map_err(|error| format!("cannot run {}: {error}", script.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let url = stdout.lines().last().unwrap_or_default().trim();
        if !output.status.success() || url.is_empty() {
            return Err(format!(
                "{URL_VARIABLE} is unset and {} failed ({}): {}",
                script.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(url.to_owned())
    }

    /// A name no other test, thread or process uses: `prefix`, the process id, the
    /// time and a counter. Lowercase ASCII, digits and `_`, so it is also a valid SQL
    /// identifier when `prefix` is.
    pub fn unique_name(prefix: &str) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        format!(
            "{prefix}_{}_{nanos}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// A schema of its own, dropped (with everything in it) when this is dropped: a
    /// store connected to [`TestSchema::url`] has a table nobody else touches, so
    /// whole-table operations such as `purge_expired` count only its own entries.
    #[derive(Debug)]
    pub struct TestSchema {
        base_url: String,
        name: String,
        url: String,
    }

    impl TestSchema {
        /// Create a fresh schema in the database at `base_url`.
        pub fn create(base_url: &str) -> Result<Self, StorageError> {
            let name = unique_name("test");
            execute(base_url, &format!("CREATE SCHEMA {name}"))?;
            // Both forms of connection string: a URL gets a query parameter, key-value
            // pairs another pair.
            let url = if base_url.contains("://") {
                let separator = if base_url.contains('?') { '&' } else { '?' };
                format!("{base_url}{separator}options=-csearch_path%3D{name}")
            } else {
                format!("{base_url} options='-csearch_path={name}'")
            };
            Ok(Self {
                base_url: base_url.to_owned(),
                name,
                url,
            })
        }

        /// The database URL with the schema as its `search_path`.
        pub fn url(&self) -> &str {
            &self.url
        }

        /// The schema's name.
        pub fn name(&self) -> &str {
            &self.name
        }
    }

    impl Drop for TestSchema {
        fn drop(&mut self) {
            let drop_schema = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
            if let Err(error) = execute(&self.base_url, &drop_schema) {
                eprintln!("leaving test schema {} behind: {error}", self.name);
            }
        }
    }

    /// Run one statement on a connection of its own.
    pub fn execute(url: &str, sql: &str) -> Result<(), StorageError> {
        let unavailable = |error: postgres::Error| StorageError::Unavailable(describe(&error));
        let mut client = url
            .parse::<postgres::Config>()
            .map_err(unavailable)?
            .connect(postgres::NoTls)
            .map_err(unavailable)?;
        client.batch_execute(sql).map_err(unavailable)
    }
}

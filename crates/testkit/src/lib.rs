//! Every repository and service test runs on both databases, each in isolation: SQLite in a fresh file,
//! PostgreSQL in a fresh schema of the server on 127.0.0.1:5432 (or `CLINICPAY_TEST_PG`). A test never
//! skips when PostgreSQL is missing: it fails and says how to start it.

pub mod localstripe;
pub mod netcut;
pub use localstripe::LocalStripe;
pub use netcut::{network_address, NetCut};
pub mod smtp;
pub use smtp::SmtpServer;

use clinicpay_store::Store;
use sqlx::Connection;
use std::path::PathBuf;

pub const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    pub store: Store,
    backend: Backend,
    cleanup: Cleanup,
}

enum Cleanup {
    File(PathBuf),
    Schema { admin_url: String, schema: String },
}

pub fn pg_admin_url() -> String {
    std::env::var("CLINICPAY_TEST_PG").unwrap_or_else(|_| DEFAULT_PG.to_owned())
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        let id = uuid::Uuid::new_v4().simple().to_string();
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join("clinicpay-tests");
                std::fs::create_dir_all(&dir).expect("temp dir");
                let path = dir.join(format!("{id}.db"));
                let url = format!("sqlite://{}", path.display());
                let store = Store::open(&url).await.expect("open SQLite test database");
                TestDb {
                    url,
                    store,
                    backend,
                    cleanup: Cleanup::File(path),
                }
            }
            Backend::Postgres => {
                let admin_url = pg_admin_url();
                let schema = format!("cp_t_{}", &id[..16]);
                let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is needed for this test and did not answer at {admin_url} ({e}). \
                         Start it (scripts/test.sh does) or point CLINICPAY_TEST_PG at one."
                    )
                });
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(&mut admin)
                    .await
                    .expect("create test schema");
                admin.close().await.ok();
                let sep = if admin_url.contains('?') { '&' } else { '?' };
                let url = format!("{admin_url}{sep}options=-c%20search_path%3D{schema}");
                let store = Store::open(&url)
                    .await
                    .expect("open PostgreSQL test schema");
                TestDb {
                    url,
                    store,
                    backend,
                    cleanup: Cleanup::Schema { admin_url, schema },
                }
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Removes the database. Called at the end of a passing test; a failing test leaves it for a look.
    pub async fn drop_db(self) {
        self.store.close().await;
        match self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    std::fs::remove_file(p).ok();
                }
            }
            Cleanup::Schema { admin_url, schema } => {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .execute(&mut admin)
                        .await
                        .ok();
                    admin.close().await.ok();
                }
            }
        }
    }
}

/// Declares a scenario once and runs it on both databases:
///
/// ```ignore
/// on_both_databases!(async fn a_rule_holds(db: &TestDb) { … });
/// ```
/// expands to a module `a_rule_holds` with tests `sqlite` and `postgres`.
#[macro_export]
macro_rules! on_both_databases {
    ($(async fn $name:ident($db:ident : &TestDb) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn scenario($db: &$crate::TestDb) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::TestDb::new($crate::Backend::Sqlite).await;
                scenario(&db).await;
                db.drop_db().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = $crate::TestDb::new($crate::Backend::Postgres).await;
                scenario(&db).await;
                db.drop_db().await;
            }
        }
    )*};
}

/// Every row of every table as text (JSON per row), to search the whole database for what must never be
/// stored: card numbers, CVCs, API secrets.
pub async fn dump_text(db: &TestDb) -> String {
    let mut out = String::new();
    let mut tx = db.store.begin().await.expect("begin");
    match &mut tx {
        clinicpay_store::Tx::Sqlite(t) => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(&mut **t)
            .await
            .expect("tables");
            for table in tables {
                let columns: Vec<String> =
                    sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                        .fetch_all(&mut **t)
                        .await
                        .expect("columns");
                let quoted: Vec<String> = columns.iter().map(|c| format!("quote({c})")).collect();
                let q = format!("SELECT json_array({}) FROM \"{table}\"", quoted.join(", "));
                let rows: Vec<String> = sqlx::query_scalar(&q)
                    .fetch_all(&mut **t)
                    .await
                    .unwrap_or_else(|e| panic!("{q}: {e}"));
                out.push_str(&format!("{table}: {}\n", rows.join("\n")));
            }
        }
        clinicpay_store::Tx::Postgres(t) => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()",
            )
            .fetch_all(&mut **t)
            .await
            .expect("tables");
            for table in tables {
                let q = format!("SELECT row_to_json(x)::text FROM \"{table}\" x");
                let rows: Vec<String> = sqlx::query_scalar(&q)
                    .fetch_all(&mut **t)
                    .await
                    .unwrap_or_else(|e| panic!("{q}: {e}"));
                out.push_str(&format!("{table}: {}\n", rows.join("\n")));
            }
        }
    }
    tx.rollback().await.ok();
    out
}

/// A summary of everything stored: row counts of every table, the settings and the activity-log head.
/// Two equal fingerprints mean a refused command changed nothing.
pub async fn fingerprint(db: &TestDb) -> String {
    let mut parts = Vec::new();
    let mut tx = db.store.begin().await.expect("begin");
    // Every table the clinic has (the list `db copy` keeps complete).
    for t in clinicpay_store::copy::TABLES {
        let q = format!("SELECT COUNT(*) FROM {t}");
        let n: i64 = raw_scalar(&mut tx, &q).await;
        parts.push(format!("{t}={n}"));
    }
    let settings: String = raw_scalar(
        &mut tx,
        "SELECT COALESCE(MAX(settings), '') FROM organizations",
    )
    .await;
    let head: String = raw_scalar(&mut tx, "SELECT seq || ':' || hash FROM activity_head").await;
    let cards: String = raw_scalar(
        &mut tx,
        "SELECT COALESCE(SUM(id * (CASE WHEN is_default THEN 3 ELSE 1 END) * (CASE WHEN removed_at IS NULL THEN 1 ELSE 7 END)), 0) || ''
         FROM payment_methods",
    )
    .await;
    tx.rollback().await.ok();
    parts.push(format!("settings={settings} head={head} cards={cards}"));
    parts.join(" ")
}

/// Runs one raw statement returning a single value, on either database.
pub async fn raw_scalar<T>(tx: &mut clinicpay_store::Tx, sql: &str) -> T
where
    T: Send + Unpin,
    T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    match tx {
        clinicpay_store::Tx::Sqlite(t) => sqlx::query_scalar(sql).fetch_one(&mut **t).await,
        clinicpay_store::Tx::Postgres(t) => sqlx::query_scalar(sql).fetch_one(&mut **t).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Runs one raw statement on either database, as someone editing the database behind the app would.
pub async fn raw_execute(db: &TestDb, sql: &str) {
    let mut tx = db.store.begin().await.expect("begin");
    match &mut tx {
        clinicpay_store::Tx::Sqlite(t) => sqlx::query(sql).execute(&mut **t).await.map(|_| ()),
        clinicpay_store::Tx::Postgres(t) => sqlx::query(sql).execute(&mut **t).await.map(|_| ()),
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
    tx.commit().await.expect("commit");
}

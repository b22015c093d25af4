//! Every repository and service test runs on both databases, each in isolation: SQLite in a fresh file,
//! PostgreSQL in a fresh schema of the server on 127.0.0.1:5432 (or `CLINICPAY_TEST_PG`). A test never
//! skips when PostgreSQL is missing: it fails and says how to start it.

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
                let store = Store::open(&url).await.expect("open PostgreSQL test schema");
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

//! Issue 19, item 6: the clinic's PostgreSQL is reached over TLS, and a server on another computer is
//! checked (signed by a trusted CA, named as in the address) unless the address says otherwise. Runs
//! against the machine's PostgreSQL, which `scripts/test.sh` gives a certificate for "localhost" from a
//! test CA the OS does not trust (`CLINICPAY_TEST_PG_CA`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clinicpay_store::{DatabaseTrust, Reader, Store};
use clinicpay_testkit::{network_address, pg_admin_url, NetCut};
use sqlx::Connection;

/// A fresh schema on the test server; the URLs below reach it under different names.
struct Schema {
    name: String,
}

impl Schema {
    async fn new() -> Schema {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("cp_t_tls{}_{nanos}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&pg_admin_url())
            .await
            .expect("PostgreSQL on 127.0.0.1:5432 (scripts/test.sh starts it)");
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        Schema { name }
    }

    /// The schema at `host_port`, with `query` (e.g. `sslmode=require&`) before the search path.
    fn url(&self, host_port: &str, query: &str) -> String {
        format!(
            "postgres://postgres:postgres@{host_port}/postgres?{query}options=-c%20search_path%3D{}",
            self.name
        )
    }

    async fn drop(self) {
        let mut admin = sqlx::PgConnection::connect(&pg_admin_url()).await.unwrap();
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name))
            .execute(&mut admin)
            .await
            .ok();
    }
}

fn test_ca() -> DatabaseTrust {
    let ca = std::env::var_os("CLINICPAY_TEST_PG_CA").map(PathBuf::from).expect(
        "CLINICPAY_TEST_PG_CA is not set: run the tests with scripts/test.sh, which gives the test PostgreSQL a certificate from a test CA",
    );
    DatabaseTrust { ca_file: Some(ca) }
}

/// Whether this connection to the server is encrypted, as the server sees it.
async fn encrypted(store: &Store) -> bool {
    let Reader::Postgres(mut conn) = store.reader().await.unwrap() else {
        panic!("a PostgreSQL store")
    };
    sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

fn refusal(result: clinicpay_store::Result<Store>) -> String {
    match result {
        Ok(_) => panic!("the connection should have been refused"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn the_clinics_database_is_trusted_through_the_ca_it_names() {
    let schema = Schema::new().await;
    let url = schema.url("localhost:5432", "sslmode=verify-full&");

    // The server's certificate comes from a CA this computer does not trust: refused, and IT is told
    // what to do about it. The password is not in the message.
    let e = refusal(Store::open_with(&url, &DatabaseTrust::default()).await);
    assert!(e.contains("secure connection"), "{e}");
    assert!(e.contains("database-ca-file"), "{e}");
    assert!(!e.contains("postgres:postgres@"), "{e}");

    // With the clinic's CA: the schema is made and the connection is encrypted.
    let store = Store::open_with(&url, &test_ca())
        .await
        .expect("verified TLS");
    assert!(encrypted(&store).await);
    store.close().await;

    // Reached under a name its certificate does not carry: refused, CA or not.
    let by_ip = schema.url("127.0.0.1:5432", "sslmode=verify-full&");
    let e = refusal(Store::open_with(&by_ip, &test_ca()).await);
    assert!(e.contains("secure connection"), "{e}");
    schema.drop().await;
}

#[tokio::test]
async fn a_database_on_another_computer_is_verified_unless_its_address_says_otherwise() {
    let schema = Schema::new().await;
    let server: SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let relay = NetCut::start_on(network_address(), server).await;
    let remote = relay.url_through(&schema.url("127.0.0.1:5432", ""), "127.0.0.1:5432");
    assert!(!remote.contains("127.0.0.1"), "{remote}");

    // No sslmode: verify-full. sqlx's own default (prefer) would have connected to this server.
    let e = refusal(Store::open_with(&remote, &DatabaseTrust::default()).await);
    assert!(e.contains("secure connection"), "{e}");
    // Trusting the CA is not enough: the server is not the one named in the address.
    let e = refusal(Store::open_with(&remote, &test_ca()).await);
    assert!(e.contains("secure connection"), "{e}");
    // PGSSLMODE in a desk user's environment does not turn the check off.
    std::env::set_var("PGSSLMODE", "disable");
    let e = refusal(Store::open_with(&remote, &DatabaseTrust::default()).await);
    std::env::remove_var("PGSSLMODE");
    assert!(e.contains("secure connection"), "{e}");

    // IT wrote sslmode=require: encrypted, the certificate not checked (as libpq without a root cert).
    let require = relay.url_through(
        &schema.url("127.0.0.1:5432", "sslmode=require&"),
        "127.0.0.1:5432",
    );
    let store = Store::open_with(&require, &DatabaseTrust::default())
        .await
        .expect("sslmode=require");
    assert!(encrypted(&store).await);
    store.close().await;
    schema.drop().await;
}

#[tokio::test]
async fn a_database_on_this_computer_needs_no_certificate() {
    // The test server and a desk's own PostgreSQL: nothing crosses a network, so the usual default
    // (TLS when the server offers it) stands.
    let schema = Schema::new().await;
    let store = Store::open_with(&schema.url("127.0.0.1:5432", ""), &DatabaseTrust::default())
        .await
        .expect("loopback");
    store.close().await;
    schema.drop().await;
}

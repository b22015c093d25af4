//! How ClinicPay reaches the clinic's PostgreSQL over the network: always with TLS, and by default
//! checking that the server is the one named in the address (issue 19). A desk's password and every
//! patient's record cross this connection; on the clinic's network anyone between the desk and the
//! server could read or change them in clear.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgSslMode};

use crate::{redact_url, Result, StoreError};

/// What this computer trusts the database server's certificate with, beyond the OS's own trust store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DatabaseTrust {
    /// The clinic's own CA certificate (PEM), from IT's managed configuration (`database-ca-file`).
    /// A `sslrootcert=` in the address itself wins.
    pub ca_file: Option<PathBuf>,
}

/// The connection options for `url`: its `sslmode` when it names one; otherwise `verify-full` for a
/// server on another computer and `prefer` for one on this computer (nothing crosses a network).
/// `PGSSLMODE` in the environment does not weaken this. (Other `PG*` variables are read as sqlx reads
/// them, e.g. `PGSSLROOTCERT` adds a CA: on a desk, the OS account that could set them is trusted.)
pub(crate) fn postgres_options(url: &str, trust: &DatabaseTrust) -> Result<PgConnectOptions> {
    let mut options =
        PgConnectOptions::from_str(url).map_err(|e| StoreError::unavailable(url, e))?;
    let query = url::Url::parse(url)
        .map(|u| {
            u.query_pairs()
                .map(|(k, _)| k.into_owned())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let names = |keys: &[&str]| query.iter().any(|k| keys.contains(&k.as_str()));
    if !names(&["sslmode", "ssl-mode"]) {
        let mode = if on_this_computer(&options) {
            PgSslMode::Prefer
        } else {
            PgSslMode::VerifyFull
        };
        options = options.ssl_mode(mode);
    }
    if let Some(ca) = &trust.ca_file {
        if !names(&["sslrootcert", "ssl-root-cert", "ssl-ca"]) {
            readable_ca(ca)?;
            options = options.ssl_root_cert(ca);
        }
    }
    Ok(options)
}

/// A server reached through a socket or a loopback address is on this computer.
fn on_this_computer(options: &PgConnectOptions) -> bool {
    if options.get_socket().is_some() {
        return true;
    }
    let host = options
        .get_host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || IpAddr::from_str(host).is_ok_and(|ip| ip.is_loopback())
}

fn readable_ca(path: &Path) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        StoreError::Unavailable(format!(
            "the database CA certificate {} named in IT's managed configuration (database-ca-file) cannot be read ({e}); ask IT to fix the path or the file's permissions",
            path.display()
        ))
    })?;
    if !text.contains("-----BEGIN CERTIFICATE-----") {
        return Err(StoreError::Unavailable(format!(
            "the database CA certificate {} (database-ca-file) is not a PEM certificate; ask IT for the clinic's CA certificate in PEM form",
            path.display()
        )));
    }
    Ok(())
}

/// The sentence for a connection that failed: a refused certificate says what IT can do about it.
pub(crate) fn connect_error(url: &str, e: sqlx::Error) -> StoreError {
    // rustls' refusal reaches sqlx as an I/O error during the handshake ("invalid peer certificate").
    let refused = match &e {
        sqlx::Error::Tls(_) => true,
        sqlx::Error::Io(io) => io.to_string().contains("certificate"),
        _ => false,
    };
    if !refused {
        return StoreError::unavailable(url, e);
    }
    StoreError::Unavailable(format!(
        "{}: the secure connection to the database server was refused ({e}). ClinicPay checks that the server's certificate is signed by a trusted authority and carries the host name in the address. IT: add the clinic's CA certificate as database-ca-file in the managed configuration, or use the name on the server's certificate in database-url",
        redact_url(url)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(url: &str) -> PgSslMode {
        postgres_options(url, &DatabaseTrust::default())
            .unwrap()
            .get_ssl_mode()
    }

    #[test]
    fn a_server_on_another_computer_is_verified_by_default() {
        assert!(matches!(
            mode("postgres://clinicpay@db.clinic.local/clinicpay"),
            PgSslMode::VerifyFull
        ));
        assert!(matches!(
            mode("postgres://clinicpay@10.0.0.5:5432/clinicpay"),
            PgSslMode::VerifyFull
        ));
        // A name that only starts like this computer's is another computer.
        assert!(matches!(
            mode("postgres://clinicpay@localhost.evil.example/clinicpay"),
            PgSslMode::VerifyFull
        ));
    }

    #[test]
    fn a_server_on_this_computer_keeps_the_usual_default() {
        for url in [
            "postgres://postgres@127.0.0.1:5432/postgres",
            "postgres://postgres@localhost/postgres",
            "postgres://postgres@[::1]/postgres",
        ] {
            assert!(matches!(mode(url), PgSslMode::Prefer), "{url}");
        }
    }

    #[test]
    fn the_address_sslmode_is_what_it_says() {
        assert!(matches!(
            mode("postgres://c@db.clinic.local/c?sslmode=require"),
            PgSslMode::Require
        ));
        assert!(matches!(
            mode("postgres://c@127.0.0.1/c?sslmode=verify-full"),
            PgSslMode::VerifyFull
        ));
    }

    #[test]
    fn an_unreadable_ca_file_is_named_before_any_connection() {
        let trust = DatabaseTrust {
            ca_file: Some("/nonexistent/clinic-ca.pem".into()),
        };
        let e = postgres_options("postgres://c@db.clinic.local/c", &trust)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/clinic-ca.pem"), "{e}");
        assert!(e.contains("database-ca-file"), "{e}");
    }
}

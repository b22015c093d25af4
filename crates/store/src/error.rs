use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// The database could not be reached or opened.
    #[error("the database is not available: {0}")]
    Unavailable(String),
    #[error("the database schema could not be brought up to date: {0}")]
    Migration(#[source] sqlx::migrate::MigrateError),
    /// Another desk with a newer ClinicPay already moved the database on (schema `0`).
    #[error("the database was upgraded by a newer ClinicPay (schema {0}) than this one: update ClinicPay on this computer, or ask IT to")]
    NewerSchema(i64),
    /// A uniqueness rule held by the database refused the change (e.g. a second default card).
    #[error("the database refused a duplicate: {0}")]
    Duplicate(String),
    /// A check or foreign-key rule of the database refused the change.
    #[error("the database refused the change: {0}")]
    Constraint(String),
    /// Stored data that cannot be read back as the domain expects.
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// What was asked cannot be done with these databases; the sentence says why and what to do.
    #[error("{0}")]
    Invalid(String),
}

impl StoreError {
    /// A migration this build does not know was applied: a newer desk got there first.
    pub(crate) fn from_migration(e: sqlx::migrate::MigrateError) -> StoreError {
        match e {
            sqlx::migrate::MigrateError::VersionMissing(v) => StoreError::NewerSchema(v),
            e => StoreError::Migration(e),
        }
    }
}

impl StoreError {
    pub(crate) fn unavailable(url: &str, e: impl std::fmt::Display) -> StoreError {
        StoreError::Unavailable(format!("{} ({e})", redact_url(url)))
    }

    pub fn is_duplicate(&self) -> bool {
        matches!(self, StoreError::Duplicate(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e {
            let detail = db
                .constraint()
                .map(str::to_owned)
                .unwrap_or_else(|| db.message().to_owned());
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => return StoreError::Duplicate(detail),
                sqlx::error::ErrorKind::CheckViolation
                | sqlx::error::ErrorKind::ForeignKeyViolation
                | sqlx::error::ErrorKind::NotNullViolation => {
                    return StoreError::Constraint(detail)
                }
                _ => {}
            }
        }
        match e {
            // A connection cut mid-way (also during the TLS negotiation, which shows as a garbled
            // answer to the SSLRequest) is the database being away, not a fault of ClinicPay's.
            sqlx::Error::PoolTimedOut
            | sqlx::Error::Io(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_) => StoreError::Unavailable(e.to_string()),
            other => StoreError::Database(other),
        }
    }
}

/// Drops the password from a database URL before it is shown or logged.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((creds, host)) = rest.rsplit_once('@') {
            if let Some((user, _password)) = creds.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
            return format!("{scheme}://{creds}@{host}");
        }
    }
    url.to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_passwords_never_reach_a_message() {
        assert_eq!(
            super::redact_url("postgres://clinic:s3cret@db.local:5432/cp"),
            "postgres://clinic:***@db.local:5432/cp"
        );
        assert_eq!(super::redact_url("/tmp/a.db"), "/tmp/a.db");
        assert_eq!(
            super::redact_url("postgres://postgres@127.0.0.1/cp"),
            "postgres://postgres@127.0.0.1/cp"
        );
    }
}

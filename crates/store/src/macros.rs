//! Runs one statement on whichever database an [`Executor`](crate::Executor) holds. Both arms bind the
//! same values in the same order; placeholders are `$1`, `$2`, … which SQLite and PostgreSQL both read.

/// `sql!(exec, execute, "…", args…)` runs a statement and answers the number of rows it changed.
macro_rules! sql {
    ($ex:expr, execute, $sql:expr $(, $arg:expr)* $(,)?) => {
        match $crate::Executor::conn($ex) {
            $crate::Conn::Sqlite(c) => sqlx::query($sql)$(.bind($arg))*.execute(c).await.map(|r| r.rows_affected()),
            $crate::Conn::Postgres(c) => sqlx::query($sql)$(.bind($arg))*.execute(c).await.map(|r| r.rows_affected()),
        }
    };
}

/// `sql_as!(exec, Row, method, "…", args…)` maps rows with `sqlx::FromRow`.
macro_rules! sql_as {
    ($ex:expr, $ty:ty, $method:ident, $sql:expr $(, $arg:expr)* $(,)?) => {
        match $crate::Executor::conn($ex) {
            $crate::Conn::Sqlite(c) => sqlx::query_as::<_, $ty>($sql)$(.bind($arg))*.$method(c).await,
            $crate::Conn::Postgres(c) => sqlx::query_as::<_, $ty>($sql)$(.bind($arg))*.$method(c).await,
        }
    };
}

/// `sql_scalar!(exec, T, method, "…", args…)` reads the first column.
macro_rules! sql_scalar {
    ($ex:expr, $ty:ty, $method:ident, $sql:expr $(, $arg:expr)* $(,)?) => {
        match $crate::Executor::conn($ex) {
            $crate::Conn::Sqlite(c) => sqlx::query_scalar::<_, $ty>($sql)$(.bind($arg))*.$method(c).await,
            $crate::Conn::Postgres(c) => sqlx::query_scalar::<_, $ty>($sql)$(.bind($arg))*.$method(c).await,
        }
    };
}

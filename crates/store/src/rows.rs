//! What every table's row conversion shares.

use clinicpay_domain::{Currency, Money};

use crate::{Result, StoreError};

pub(crate) fn corrupt(
    what: &'static str,
    id: i64,
) -> impl Fn(clinicpay_domain::DomainError) -> StoreError {
    move |e| StoreError::Corrupt(format!("{what} {id}: {e}"))
}

pub(crate) fn money_of(minor: i64, currency: &str, what: &'static str, id: i64) -> Result<Money> {
    let c: Currency = currency.parse().map_err(corrupt(what, id))?;
    Ok(Money::from_minor(minor, c))
}

/// `column = $n` when the caller filters by it, else a condition true for every row that still takes
/// `$n` (bound to NULL), so the placeholders stay the same. Written out either way because neither
/// planner uses an index for `($n IS NULL OR column = $n)`: a patient's lists were read by scanning
/// the clinic's millions of invoices and payments.
pub(crate) fn equals(column: &str, n: u8, filtered: bool) -> String {
    if filtered {
        format!("{column} = ${n}")
    } else {
        format!("${n} IS NULL")
    }
}

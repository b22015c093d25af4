//! The clinic's counts for the front desk's overview and the settings' safety checks.

use serde::Serialize;

use crate::{Executor, Result};

/// Counts of what a patient owes and how recovery stands, for the front-desk overview.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClinicCounts {
    pub patients: i64,
    pub active_cards: i64,
    pub open_invoices: i64,
    pub active_subscriptions: i64,
    pub failed_payments: i64,
    pub open_recoveries: i64,
}

pub async fn clinic_counts(ex: &mut impl Executor) -> Result<ClinicCounts> {
    let (patients, active_cards, open_invoices, active_subscriptions, failed_payments, open_recoveries) =
        sql_as!(
            ex,
            (i64, i64, i64, i64, i64, i64),
            fetch_one,
            "SELECT (SELECT COUNT(*) FROM patients),
                    (SELECT COUNT(*) FROM payment_methods WHERE removed_at IS NULL),
                    (SELECT COUNT(*) FROM invoices WHERE status = 'OPEN'),
                    (SELECT COUNT(*) FROM subscriptions WHERE status <> 'CANCELLED'),
                    (SELECT COUNT(*) FROM payments WHERE status = 'FAILED'),
                    (SELECT COUNT(*) FROM orders WHERE recovery_status IN ('NEEDS_PAYMENT_METHOD', 'RETRY_SCHEDULED'))"
        )?;
    Ok(ClinicCounts {
        patients,
        active_cards,
        open_invoices,
        active_subscriptions,
        failed_payments,
        open_recoveries,
    })
}

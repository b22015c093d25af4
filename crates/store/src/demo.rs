//! Writers only the demo clinic uses: a clinic group's years of past visits, written in bulk.

use chrono::{DateTime, Utc};
use clinicpay_domain::{
    Gateway, InvoiceId, InvoiceStatus, Money, PatientId, PaymentMethodId, PaymentStatus,
};

use crate::{to_millis, Executor, Result, Tx};

/// An invoice from a patient's past visits, for loading a clinic's history in bulk (the demo clinic at a
/// clinic group's size). Its id is given, so the payments that settled it can be written with it.
#[derive(Debug, Clone)]
pub struct PastInvoice {
    pub id: InvoiceId,
    pub patient_id: PatientId,
    pub description: &'static str,
    pub amount: Money,
    pub status: InvoiceStatus,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

/// A finished payment attempt on a [`PastInvoice`].
#[derive(Debug, Clone)]
pub struct PastPayment {
    pub patient_id: PatientId,
    pub invoice_id: InvoiceId,
    pub payment_method_id: PaymentMethodId,
    pub gateway: Gateway,
    pub amount: Money,
    pub status: PaymentStatus,
    pub idempotency_key: String,
    pub gateway_reference: String,
    pub decline_code: Option<&'static str>,
    pub decline_message: Option<&'static str>,
    pub at: DateTime<Utc>,
}

/// The id the next invoice will get, for numbering [`PastInvoice`]s inside this transaction.
pub async fn next_invoice_id(tx: &mut Tx) -> Result<InvoiceId> {
    let id = sql_scalar!(
        tx,
        i64,
        fetch_one,
        "SELECT COALESCE(MAX(id), 0) + 1 FROM invoices"
    )?;
    Ok(InvoiceId(id))
}

/// Writes past invoices and their payments many rows to a statement (a row at a time would take minutes
/// for a clinic group's millions). PostgreSQL's identity then goes on after the highest id given.
pub async fn insert_past_visits(
    tx: &mut Tx,
    invoices: &[PastInvoice],
    payments: &[PastPayment],
) -> Result<()> {
    // Under SQLite's 32,766 bound values a statement, with room to spare.
    const ROWS: usize = 2_000;
    macro_rules! write_all {
        ($db:ty, $c:expr) => {{
            for chunk in invoices.chunks(ROWS) {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO invoices (id, patient_id, description, amount_minor, currency, status, created_at, paid_at) ",
                );
                q.push_values(chunk, |mut b, i| {
                    b.push_bind(i.id.0)
                        .push_bind(i.patient_id.0)
                        .push_bind(i.description)
                        .push_bind(i.amount.minor)
                        .push_bind(i.amount.currency.code())
                        .push_bind(i.status.as_str())
                        .push_bind(to_millis(i.created_at))
                        .push_bind(i.paid_at.map(to_millis));
                });
                q.build().execute(&mut *$c).await?;
            }
            for chunk in payments.chunks(ROWS) {
                let mut q = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO payments (patient_id, invoice_id, payment_method_id, gateway, amount_minor, currency,
                         status, idempotency_key, gateway_reference, decline_code, decline_message, created_at, updated_at) ",
                );
                q.push_values(chunk, |mut b, p| {
                    b.push_bind(p.patient_id.0)
                        .push_bind(p.invoice_id.0)
                        .push_bind(p.payment_method_id.0)
                        .push_bind(p.gateway.as_str())
                        .push_bind(p.amount.minor)
                        .push_bind(p.amount.currency.code())
                        .push_bind(p.status.as_str())
                        .push_bind(p.idempotency_key.as_str())
                        .push_bind(p.gateway_reference.as_str())
                        .push_bind(p.decline_code)
                        .push_bind(p.decline_message)
                        .push_bind(to_millis(p.at))
                        .push_bind(to_millis(p.at));
                });
                q.build().execute(&mut *$c).await?;
            }
        }};
    }
    match Executor::conn(tx) {
        crate::Conn::Sqlite(c) => write_all!(sqlx::Sqlite, c),
        crate::Conn::Postgres(c) => {
            write_all!(sqlx::Postgres, c);
            sqlx::query(
                "SELECT setval(pg_get_serial_sequence('invoices', 'id'), MAX(id)) FROM invoices HAVING MAX(id) IS NOT NULL",
            )
            .fetch_all(&mut *c)
            .await?;
        }
    }
    Ok(())
}

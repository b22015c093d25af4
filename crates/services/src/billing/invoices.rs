//! Creating an invoice and listing a patient's (or the clinic's) invoices.

use clinicpay_domain::{
    InvoiceId, InvoiceStatus, Money, OrderKind, OrderStatus, OrganizationSettings, PatientId,
    Permission,
};
use clinicpay_store::invoices;
use clinicpay_store::invoices::Invoice;

use super::LIST_LIMIT;
use crate::billing::{insert_order_with_invoice, OrderToBill};
use crate::{Actor, Change, Result, ServiceError, Services};
use clinicpay_store::StoreError;

/// An invoice (and its order) to open.
pub(crate) struct InvoiceToOpen<'a> {
    pub(crate) kind: OrderKind,
    pub(crate) status: OrderStatus,
    pub(crate) description: &'a str,
    pub(crate) amount: Money,
    /// The checkout attempt that makes it, if any (at most one invoice per attempt).
    pub(crate) attempt: Option<&'a str>,
}

impl Services {
    /// An invoice for the patient, with the one-time order it belongs to.
    pub async fn create_invoice(
        &self,
        actor: &Actor,
        patient: PatientId,
        amount: Money,
        description: &str,
    ) -> Result<Invoice> {
        actor.require(Permission::TakePayments)?;
        let settings = self.load_settings().await?;
        let amount = self.billable(amount, &settings)?;
        let description = match description.trim() {
            "" => "Clinic invoice",
            d => d,
        };
        self.open_invoice(
            actor,
            patient,
            InvoiceToOpen {
                kind: OrderKind::OneTime,
                status: OrderStatus::AwaitingPayment,
                description,
                amount,
                attempt: None,
            },
        )
        .await
    }

    /// An order of `kind` with its open invoice, and the activity entry.
    pub(crate) async fn open_invoice(
        &self,
        actor: &Actor,
        patient: PatientId,
        new: InvoiceToOpen<'_>,
    ) -> Result<Invoice> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        self.require_patient(&mut tx, patient).await?;
        let (_, id) = insert_order_with_invoice(
            &mut tx,
            OrderToBill {
                patient,
                kind: new.kind,
                status: new.status,
                description: new.description,
                amount: new.amount,
                subscription: None,
                cycle_start_at: None,
                locked_gateway: None,
            },
            now,
        )
        .await?;
        if let Some(key) = new.attempt {
            invoices::set_attempt_key(&mut tx, id, key)
                .await
                .map_err(|e| {
                    match e {
                    StoreError::Duplicate(_) => ServiceError::Conflict(
                        "This checkout is already being taken (pressed twice): wait for its answer."
                            .into(),
                    ),
                    other => other.into(),
                }
                })?;
        }
        let invoice = invoices::invoice(&mut tx, id)
            .await?
            .ok_or_else(|| ServiceError::Internal("the new invoice vanished".into()))?;
        Change::new(Some(actor), now, "invoice.created", "invoice", id)
            .patient(patient)
            .after(&invoice)
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(invoice)
    }

    pub async fn list_invoices(
        &self,
        actor: &Actor,
        patient: Option<PatientId>,
    ) -> Result<Vec<Invoice>> {
        actor.require(Permission::ViewPatients)?;
        let mut r = self.store().reader().await?;
        Ok(invoices::invoices(&mut r, patient, LIST_LIMIT).await?)
    }

    pub(crate) async fn require_open_invoice(
        &self,
        ex: &mut impl clinicpay_store::Executor,
        id: InvoiceId,
    ) -> Result<Invoice> {
        let inv = invoices::invoice(ex, id).await?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "There is no invoice {id}: check the number in the patient's invoices."
            ))
        })?;
        if inv.status != InvoiceStatus::Open {
            return Err(ServiceError::Conflict(format!(
                "Invoice {id} is {} already (perhaps just now, at another desk): nothing to pay.",
                inv.status.as_str().to_lowercase()
            )));
        }
        Ok(inv)
    }

    pub(crate) fn billable(&self, amount: Money, settings: &OrganizationSettings) -> Result<Money> {
        if amount.currency != settings.currency {
            return Err(ServiceError::Invalid(format!(
                "The clinic bills in {}, not {}: give the amount in {}.",
                settings.currency, amount.currency, settings.currency
            )));
        }
        if !amount.is_positive() {
            return Err(ServiceError::Invalid(
                "The amount must be more than zero.".into(),
            ));
        }
        Ok(amount)
    }
}

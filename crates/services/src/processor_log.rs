//! The processor log: the gateways layer hands over each call, already redacted; it is stored here and
//! shown to staff (document 003, "Processor Logs").

use async_trait::async_trait;
use clinicpay_domain::{PatientId, PaymentId, Permission};
use clinicpay_gateways::{ProcessorLog, ProcessorLogEntry};
use clinicpay_store::processor_log::{self, LogEntry, NewLogEntry};
use clinicpay_store::Store;

use crate::{Actor, Result, Services};

/// Writes gateway calls to the database. A failure to log never changes a payment's outcome, so it is
/// reported on stderr and the call's result stands.
pub struct StoredProcessorLog {
    store: Store,
    patient: Option<PatientId>,
}

impl StoredProcessorLog {
    pub fn new(store: Store, patient: Option<PatientId>) -> StoredProcessorLog {
        StoredProcessorLog { store, patient }
    }
}

#[async_trait]
impl ProcessorLog for StoredProcessorLog {
    async fn record(&self, e: ProcessorLogEntry) {
        let entry = NewLogEntry {
            at: e.at,
            gateway: e.gateway.as_str().into(),
            operation: e.operation,
            patient_id: self.patient.map(|p| p.0),
            payment_key: e.payment_key,
            http_status: e.http_status.map(i64::from),
            duration_ms: e.duration_ms,
            outcome: e.outcome,
            request: e.request,
            response: e.response,
        };
        let result = async {
            let mut tx = self.store.begin().await?;
            processor_log::insert(&mut tx, &entry).await?;
            tx.commit().await
        }
        .await;
        if let Err(err) = result {
            eprintln!("ClinicPay could not write the processor log ({err}); the gateway call itself is unaffected.");
        }
    }
}

impl Services {
    /// The newest gateway calls, for one payment or one patient if asked.
    pub async fn processor_log(
        &self,
        actor: &Actor,
        payment: Option<PaymentId>,
        patient: Option<PatientId>,
    ) -> Result<Vec<LogEntry>> {
        actor.require(Permission::ViewActivity)?;
        let mut r = self.store().reader().await?;
        Ok(processor_log::list(&mut r, payment.map(|p| p.0), patient.map(|p| p.0), 200).await?)
    }

    /// The newest gateway calls that mention `text` (an operation, an outcome, a payment key, a code).
    pub async fn search_processor_log(&self, actor: &Actor, text: &str) -> Result<Vec<LogEntry>> {
        actor.require(Permission::ViewActivity)?;
        if text.trim().is_empty() {
            return self.processor_log(actor, None, None).await;
        }
        let mut r = self.store().reader().await?;
        Ok(processor_log::search(&mut r, text, 200).await?)
    }

    /// A processor log writing to this database, for gateway clients acting for `patient`.
    pub fn processor_log_sink(&self, patient: Option<PatientId>) -> StoredProcessorLog {
        StoredProcessorLog::new(self.store().clone(), patient)
    }
}

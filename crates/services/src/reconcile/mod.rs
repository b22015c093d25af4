//! Reconciliation: every charge and refund each gateway holds for a period, matched to the ledger
//! (`clinicpay reconcile`, the Reconciliation screen, and the worker's daily run for the day before).
//! Money taken or paid back that ClinicPay had recorded as failed is recorded as the gateway says (the
//! same rule as a late answer); every other difference is listed with what to do, never "fixed" by
//! moving money.

pub mod matching;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use clinicpay_domain::{Gateway, PaymentStatus, Permission};
use clinicpay_gateways::{GatewayError, GatewayTransaction, PaymentGateway, TransactionKind};
use clinicpay_store::payments::Settlement;
use clinicpay_store::reconciliation_lines as lines;
use clinicpay_store::reconciliations::{self, NewRun, RunRow};
use clinicpay_store::{payments, refunds, StoreError};
use serde::{Deserialize, Serialize};

pub use matching::{Mismatch, MismatchKind};

use crate::{Actor, Change, Result, ServiceError, Services};

/// Gateway transactions this close to the period's edges are read too, so a charge recorded at
/// 23:59:59 and stamped 00:00:01 by the gateway is matched, not reported twice.
const EDGE: Duration = Duration::hours(1);

const CHARGE: &str = "charge";
const REFUND: &str = "refund";

/// The period reconciled, and the time it was asked.
#[derive(Clone, Copy)]
struct Period {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
}

/// A gateway's transaction as staged for matching.
fn line_of(t: GatewayTransaction) -> lines::Line {
    lines::Line {
        kind: match t.kind {
            TransactionKind::Charge => CHARGE,
            TransactionKind::Refund => REFUND,
        }
        .to_owned(),
        reference: t.reference,
        our_key: t.our_key,
        amount_minor: t.amount_minor,
        currency: t.currency,
        taken: t.taken,
        status: t.status,
        created_at: t.created_at.timestamp_millis(),
    }
}

/// A staged line back as the gateway's transaction.
fn transaction_of(l: lines::Line) -> Option<GatewayTransaction> {
    Some(GatewayTransaction {
        kind: match l.kind.as_str() {
            CHARGE => TransactionKind::Charge,
            REFUND => TransactionKind::Refund,
            _ => return None,
        },
        created_at: l.created_at(),
        reference: l.reference,
        our_key: l.our_key,
        amount_minor: l.amount_minor,
        currency: l.currency,
        taken: l.taken,
        status: l.status,
    })
}

/// One gateway's part of a reconciliation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct GatewayReconciliation {
    pub gateway: Gateway,
    /// What the gateway listed for the period.
    pub gateway_charges: u32,
    pub gateway_refunds: u32,
    /// What ClinicPay recorded for the period.
    pub ledger_payments: u32,
    pub ledger_refunds: u32,
    pub mismatches: Vec<Mismatch>,
    /// The gateway could not be asked: no verdict for it.
    pub unavailable: Option<String>,
}

/// A reconciliation of a period (UTC days, both included).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Reconciliation {
    #[cfg_attr(feature = "specta", specta(type = Option<i32>))]
    pub id: Option<i64>,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub ran_at: DateTime<Utc>,
    pub gateways: Vec<GatewayReconciliation>,
    /// Every gateway was asked and nothing differs.
    pub clean: bool,
    /// One line for the top bar and the CLI.
    pub verdict: String,
}

impl Reconciliation {
    pub fn mismatch_count(&self) -> usize {
        self.gateways.iter().map(|g| g.mismatches.len()).sum()
    }

    pub fn unavailable(&self) -> bool {
        self.gateways.iter().any(|g| g.unavailable.is_some())
    }
}

/// The newest daily verdict, for the top bar.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ReconciliationVerdict {
    #[cfg_attr(feature = "specta", specta(type = i32))]
    pub id: i64,
    pub day: String,
    pub clean: bool,
    pub mismatches: i32,
    pub unavailable: bool,
    pub verdict: String,
    pub ran_at: DateTime<Utc>,
}

impl Services {
    /// Matches each gateway's charges and refunds of `[from, to]` (UTC days) to the ledger, keeps the
    /// result and answers it. `gateway` limits it to one; otherwise every gateway this clinic has a key
    /// for, or has payments on in the period.
    pub async fn reconcile(
        &self,
        actor: &Actor,
        from: NaiveDate,
        to: NaiveDate,
        gateway: Option<Gateway>,
    ) -> Result<Reconciliation> {
        actor.require(Permission::ViewReports)?;
        if to < from {
            return Err(ServiceError::Invalid(format!(
                "The period ends ({to}) before it starts ({from}): give --from before --to."
            )));
        }
        if (to - from).num_days() > 92 {
            return Err(ServiceError::Invalid(
                "Reconcile at most three months at a time: split the period.".into(),
            ));
        }
        self.run_reconciliation(Some(actor), from, to, gateway, false)
            .await
    }

    async fn run_reconciliation(
        &self,
        actor: Option<&Actor>,
        from_day: NaiveDate,
        to_day: NaiveDate,
        only: Option<Gateway>,
        daily: bool,
    ) -> Result<Reconciliation> {
        let settings = self.load_settings().await?;
        let now = self.fresh_now().await?;
        let from = from_day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        let to = (to_day + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc();
        let mut parts = Vec::new();
        for gateway in only.map_or_else(|| vec![Gateway::Stripe, Gateway::Nmi], |g| vec![g]) {
            if let Some(part) = self
                .reconcile_gateway(gateway, from, to, now, &settings, only.is_some())
                .await?
            {
                parts.push(part);
            }
        }
        let mut result = Reconciliation {
            id: None,
            from: from_day,
            to: to_day,
            ran_at: now,
            clean: false,
            verdict: String::new(),
            gateways: parts,
        };
        result.clean = !result.unavailable() && result.mismatch_count() == 0;
        result.verdict = verdict_of(&result);
        // A daily run whose gateway could not be asked is kept as an attempt, not the day's verdict.
        result.id = Some(
            self.keep(actor, &result, daily && !result.unavailable())
                .await?,
        );
        Ok(result)
    }

    /// One gateway's part, or None for a gateway the clinic neither has a key for nor used.
    async fn reconcile_gateway(
        &self,
        gateway: Gateway,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
        settings: &clinicpay_domain::OrganizationSettings,
        asked_for: bool,
    ) -> Result<Option<GatewayReconciliation>> {
        let (ledger_payments, ledger_refunds) = {
            let mut r = self.store().reader().await?;
            (
                lines::ledger_count(&mut r, CHARGE, gateway, from, to).await? as u32,
                lines::ledger_count(&mut r, REFUND, gateway, from, to).await? as u32,
            )
        };
        let unavailable = |message: String| GatewayReconciliation {
            gateway,
            gateway_charges: 0,
            gateway_refunds: 0,
            ledger_payments,
            ledger_refunds,
            mismatches: Vec::new(),
            unavailable: Some(message),
        };
        let client = match self.gateway_client(gateway, settings, None).await {
            Ok(c) => c,
            // Never used and no key: nothing to reconcile on this gateway.
            Err(_) if !asked_for && ledger_payments == 0 && ledger_refunds == 0 => return Ok(None),
            Err(e) => return Ok(Some(unavailable(e.to_string()))),
        };
        let run = format!("{}-{:016x}", gateway.as_str(), rand::random::<u64>());
        let part = self
            .reconcile_listed(
                client.as_ref(),
                &run,
                Period { from, to, now },
                settings,
                (ledger_payments, ledger_refunds),
            )
            .await;
        // The run's lines go whatever happened, with any that a stopped run left behind.
        let mut tx = self.store().begin().await?;
        lines::remove(&mut tx, &run, now - Duration::days(1)).await?;
        tx.commit().await?;
        Ok(Some(match part? {
            Ok(part) => part,
            Err(e) => unavailable(e.to_string()),
        }))
    }

    /// The gateway's listing of the period (with its edges), written to the database page by page as
    /// it is read: the listing and the writing run side by side, a few pages apart at most. The
    /// gateway's error, if it could not list.
    async fn stage_listing(
        &self,
        client: &dyn PaymentGateway,
        run: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<std::result::Result<(), GatewayError>> {
        let (sender, mut pages) = tokio::sync::mpsc::channel::<Vec<GatewayTransaction>>(4);
        let listing = async move {
            let listed = client.transactions(from, to, &sender).await;
            drop(sender);
            listed
        };
        let staging = async move {
            while let Some(page) = pages.recv().await {
                let staged: Vec<lines::Line> = page.into_iter().map(line_of).collect();
                let mut tx = self.store().begin().await?;
                lines::stage(&mut tx, run, &staged, now).await?;
                tx.commit().await?;
            }
            Ok::<(), ServiceError>(())
        };
        // A write that fails drops the pages, which stops the listing at its next page.
        let (listed, staged) = tokio::join!(listing, staging);
        staged?;
        let mut tx = self.store().begin().await?;
        lines::refresh_statistics(&mut tx).await?;
        tx.commit().await?;
        Ok(listed)
    }

    /// Lists the gateway's period into `run` and matches what may differ; the gateway's error if it
    /// could not list.
    async fn reconcile_listed(
        &self,
        client: &dyn PaymentGateway,
        run: &str,
        period: Period,
        settings: &clinicpay_domain::OrganizationSettings,
        (ledger_payments, ledger_refunds): (u32, u32),
    ) -> Result<std::result::Result<GatewayReconciliation, GatewayError>> {
        let Period { from, to, now } = period;
        let gateway = client.gateway();
        if let Err(e) = self
            .stage_listing(client, run, from - EDGE, to + EDGE, now)
            .await?
        {
            return Ok(Err(e));
        }
        let in_period = |t: DateTime<Utc>| t >= from && t < to;
        // What was made in the last minutes may still be on its way to either side.
        let match_to = to.min(now - Duration::minutes(5));
        let (transactions, ledger, ledger_refunds_checked) = {
            let mut r = self.store().reader().await?;
            let mut keys =
                lines::ledger_keys_to_check(&mut r, run, CHARGE, gateway, from, match_to).await?;
            let refund_keys =
                lines::ledger_keys_to_check(&mut r, run, REFUND, gateway, from, match_to).await?;
            let refunds_checked = refunds::with_keys(&mut r, gateway, &refund_keys).await?;
            // A refund's payment tells whose it is; it is matched with its own transactions.
            for refund in &refunds_checked {
                if let Some(p) = payments::payment(&mut r, refund.payment_id).await? {
                    keys.push(p.idempotency_key);
                }
            }
            keys.sort();
            keys.dedup();
            let mut staged = lines::with_keys(&mut r, run, CHARGE, &keys).await?;
            staged.extend(lines::with_keys(&mut r, run, REFUND, &refund_keys).await?);
            staged.extend(lines::unrecorded(&mut r, run, CHARGE, gateway, from, match_to).await?);
            staged.extend(lines::unrecorded(&mut r, run, REFUND, gateway, from, match_to).await?);
            (
                staged
                    .into_iter()
                    .filter_map(transaction_of)
                    .collect::<Vec<_>>(),
                payments::with_keys(&mut r, gateway, &keys).await?,
                refunds_checked,
            )
        };
        let mut mismatches = matching::mismatches(&matching::Inputs {
            gateway,
            from,
            to: match_to,
            now,
            currency: settings.currency,
            transactions: &transactions,
            payments: &ledger,
            refunds: &ledger_refunds_checked,
        });
        // Money moved that ClinicPay recorded as failed: record what the gateway says, as a late answer.
        for m in &mut mismatches {
            m.recorded_now = match (m.kind, m.payment_id, m.refund_id, &m.gateway_reference) {
                (MismatchKind::TakenRecordedFailed, Some(p), _, Some(reference)) => {
                    self.record_late_success(p, reference).await?.is_some()
                }
                (MismatchKind::RefundRecordedFailed, _, Some(refund), reference) => {
                    self.record_late_refund(refund, reference.clone()).await?
                }
                _ => false,
            };
        }
        // Two charges of one invoice ClinicPay knows of, not refunded yet.
        {
            let mut r = self.store().reader().await?;
            for d in payments::charged_twice(&mut r, None).await? {
                if d.gateway == gateway
                    && in_period(d.created_at)
                    && !mismatches
                        .iter()
                        .any(|m| m.kind == MismatchKind::ChargedTwice && m.payment_id == Some(d.id))
                {
                    mismatches.push(Mismatch {
                        kind: MismatchKind::ChargedTwice,
                        gateway,
                        payment_id: Some(d.id),
                        refund_id: None,
                        invoice_id: d.invoice_id,
                        patient_id: Some(d.patient_id),
                        gateway_reference: d.gateway_reference.clone(),
                        gateway_amount: Some(d.amount),
                        ledger_amount: Some(d.amount),
                        gateway_status: None,
                        ledger_status: Some(d.status),
                        at: d.created_at,
                        what_to_do: format!(
                            "Invoice {} was charged twice (payments {} and {}): refund payment {} from the patient's Payments tab and tell the patient.",
                            d.invoice_id.map_or_else(|| "?".into(), |i| i.to_string()),
                            d.duplicate_of.map_or_else(|| "?".into(), |p| p.to_string()),
                            d.id,
                            d.id
                        ),
                        recorded_now: false,
                    });
                }
            }
        }
        mismatches.sort_by_key(|m| m.at);
        let mut r = self.store().reader().await?;
        Ok(Ok(GatewayReconciliation {
            gateway,
            gateway_charges: lines::count(&mut r, run, CHARGE, from, to).await? as u32,
            gateway_refunds: lines::count(&mut r, run, REFUND, from, to).await? as u32,
            ledger_payments,
            ledger_refunds,
            mismatches,
            unavailable: None,
        }))
    }

    /// A refund the gateway paid back that ClinicPay had recorded as failed is recorded as done.
    async fn record_late_refund(&self, refund_id: i64, reference: Option<String>) -> Result<bool> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let settled = refunds::settle_refund(
            &mut tx,
            refund_id,
            PaymentStatus::Failed,
            PaymentStatus::Succeeded,
            &Settlement {
                gateway_reference: reference,
                ..Settlement::default()
            },
            now,
        )
        .await?;
        if !settled {
            return Ok(false);
        }
        let refund = refunds::refund(&mut tx, refund_id)
            .await?
            .ok_or_else(|| ServiceError::Internal("the refund vanished".into()))?;
        let payment = payments::payment(&mut tx, refund.payment_id)
            .await?
            .ok_or_else(|| ServiceError::Internal("the refunded payment vanished".into()))?;
        let refunded: i64 = refunds::refunds_of(&mut tx, payment.id)
            .await?
            .iter()
            .filter(|r| r.status == PaymentStatus::Succeeded)
            .map(|r| r.amount.minor)
            .sum();
        if refunded >= payment.amount.minor {
            crate::billing::mark_refunded(&mut tx, &payment, now).await?;
        }
        Change::new(None, now, "refund.late_answer", "payment", payment.id)
            .by_system("ClinicPay (reconciliation)")
            .patient(payment.patient_id)
            .before(serde_json::json!({ "refund": refund_id, "status": "FAILED" }))
            .after(serde_json::json!({
                "refund": refund_id,
                "status": "SUCCEEDED",
                "why": format!("{} shows the refund done", payment.gateway),
            }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Keeps a run and says so in the activity log.
    async fn keep(
        &self,
        actor: Option<&Actor>,
        result: &Reconciliation,
        daily: bool,
    ) -> Result<i64> {
        let json = serde_json::to_string(result)
            .map_err(|e| ServiceError::Internal(format!("a reconciliation as JSON: {e}")))?;
        let (from, to) = (result.from.to_string(), result.to.to_string());
        let mut tx = self.store().begin().await?;
        let id = reconciliations::insert(
            &mut tx,
            &NewRun {
                from_day: &from,
                to_day: &to,
                daily,
                clean: result.clean,
                mismatches: i32::try_from(result.mismatch_count()).unwrap_or(i32::MAX),
                unavailable: result.unavailable(),
                result: &json,
                ran_by: actor.map(|a| a.id.0),
            },
            result.ran_at,
        )
        .await
        .map_err(|e| match e {
            StoreError::Duplicate(_) => ServiceError::Conflict(format!(
                "The daily reconciliation of {from} has run already."
            )),
            other => other.into(),
        })?;
        let mut change = Change::new(
            actor,
            result.ran_at,
            "reconciliation.run",
            "reconciliation",
            id,
        )
        .after(serde_json::json!({
            "from": from,
            "to": to,
            "clean": result.clean,
            "mismatches": result.mismatch_count(),
            "unavailable": result.unavailable(),
        }));
        if actor.is_none() {
            change = change.by_system("ClinicPay (daily reconciliation)");
        }
        change.record(&mut tx).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The worker's daily run: yesterday (UTC), once; if a gateway could not be asked, tried again
    /// an hour later.
    pub(crate) async fn daily_reconciliation(&self) -> Result<Option<ReconciliationVerdict>> {
        // A training clinic's demo payments were never at any gateway: nothing to reconcile daily.
        if self.load_settings().await?.training_mode {
            return Ok(None);
        }
        let now = self.now();
        // The days since the newest daily verdict (a worker stopped over a weekend catches up, at most a
        // week back; the first run does yesterday), one day a pass; a day whose gateway could not be
        // asked is tried again an hour later.
        let yesterday = (now - Duration::days(1)).date_naive();
        let mut due = None;
        {
            let mut r = self.store().reader().await?;
            let newest = reconciliations::newest(&mut r, true, 1)
                .await?
                .first()
                .and_then(|row| row.from_day.parse::<NaiveDate>().ok());
            let first = newest.map_or(yesterday, |d| {
                (d + Duration::days(1)).max(yesterday - Duration::days(6))
            });
            for day in first.iter_days().take_while(|d| *d <= yesterday) {
                let key = day.to_string();
                if reconciliations::daily_of(&mut r, &key).await?.is_none()
                    && !reconciliations::tried_since(&mut r, &key, now - Duration::hours(1)).await?
                {
                    due = Some(day);
                    break;
                }
            }
        }
        let Some(day) = due else {
            return Ok(None);
        };
        let result = match self.run_reconciliation(None, day, day, None, true).await {
            Ok(r) => r,
            // Another worker kept the day's verdict first.
            Err(ServiceError::Conflict(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        self.reconciliation_verdict_of(&result).map(Some)
    }

    fn reconciliation_verdict_of(&self, r: &Reconciliation) -> Result<ReconciliationVerdict> {
        Ok(ReconciliationVerdict {
            id: r.id.unwrap_or_default(),
            day: if r.from == r.to {
                r.from.to_string()
            } else {
                format!("{} to {}", r.from, r.to)
            },
            clean: r.clean,
            mismatches: i32::try_from(r.mismatch_count()).unwrap_or(i32::MAX),
            unavailable: r.unavailable(),
            verdict: r.verdict.clone(),
            ran_at: r.ran_at,
        })
    }

    /// The newest daily verdict, for the top bar (billing managers).
    pub async fn reconciliation_verdict(
        &self,
        actor: &Actor,
    ) -> Result<Option<ReconciliationVerdict>> {
        actor.require(Permission::ViewReports)?;
        let mut r = self.store().reader().await?;
        reconciliations::newest_by_worker(&mut r)
            .await?
            .map(|row| self.verdict_of_row(&row))
            .transpose()
    }

    /// The newest runs (daily and asked for), newest first, with their mismatches.
    pub async fn reconciliations(&self, actor: &Actor) -> Result<Vec<Reconciliation>> {
        actor.require(Permission::ViewReports)?;
        let mut r = self.store().reader().await?;
        reconciliations::newest(&mut r, false, 30)
            .await?
            .iter()
            .map(result_of)
            .collect()
    }

    fn verdict_of_row(&self, row: &RunRow) -> Result<ReconciliationVerdict> {
        let mut result = result_of(row)?;
        result.id = Some(row.id);
        self.reconciliation_verdict_of(&result)
    }
}

fn result_of(row: &RunRow) -> Result<Reconciliation> {
    let mut r: Reconciliation = serde_json::from_str(&row.result).map_err(|e| {
        ServiceError::Internal(format!("reconciliation {} cannot be read ({e})", row.id))
    })?;
    r.id = Some(row.id);
    Ok(r)
}

fn verdict_of(r: &Reconciliation) -> String {
    let period = if r.from == r.to {
        r.from.to_string()
    } else {
        format!("{} to {}", r.from, r.to)
    };
    let unavailable: Vec<String> = r
        .gateways
        .iter()
        .filter(|g| g.unavailable.is_some())
        .map(|g| g.gateway.to_string())
        .collect();
    let n = r.mismatch_count();
    match (n, unavailable.is_empty()) {
        (0, true) if r.gateways.is_empty() => {
            format!("Reconciliation of {period}: no gateway to reconcile.")
        }
        (0, true) => format!("Reconciliation of {period}: every charge and refund matches."),
        (0, false) => format!(
            "Reconciliation of {period}: {} could not be asked; no verdict for it yet.",
            unavailable.join(" and ")
        ),
        (n, true) => format!(
            "Reconciliation of {period}: {n} difference{} between the gateways and ClinicPay to look at.",
            if n == 1 { "" } else { "s" }
        ),
        (n, false) => format!(
            "Reconciliation of {period}: {n} difference{} to look at, and {} could not be asked.",
            if n == 1 { "" } else { "s" },
            unavailable.join(" and ")
        ),
    }
}

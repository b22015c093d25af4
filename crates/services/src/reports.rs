//! The billing manager's gateway report (document 003 "Processor Logs", "Failed Payments"): per gateway
//! and currency, payments attempted, succeeded (count and money), failed, the success rate, declines by
//! code and the gateway's words, refunds, unknown outcomes waiting for the janitor, and the recovery
//! funnel; as data, CSV and PDF. Every figure is the database's own sum over the ledger.

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use clinicpay_domain::{Currency, Gateway, Money, Permission};
use clinicpay_store::report;
use serde::Serialize;

use crate::pdf::{blank, body, heading, render, wrap, WRAP};
use crate::{Actor, Change, Result, ServiceError, Services};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct GatewayReport {
    /// First and last day, inclusive, as YYYY-MM-DD (UTC).
    pub from: String,
    pub to: String,
    pub gateways: Vec<GatewayFigures>,
    pub recovery: RecoveryFunnel,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct GatewayFigures {
    pub gateway: Gateway,
    pub currency: Currency,
    #[cfg_attr(feature = "specta", specta(type = i32))]
    pub attempts: i64,
    #[cfg_attr(feature = "specta", specta(type = i32))]
    pub succeeded: i64,
    pub succeeded_amount: Money,
    #[cfg_attr(feature = "specta", specta(type = i32))]
    pub failed: i64,
    /// Succeeded out of settled (succeeded + failed), in percent; None before anything settled.
    pub success_rate_percent: Option<f64>,
    /// Payments still PENDING or UNKNOWN: the janitor settles them by asking the gateway.
    #[cfg_attr(feature = "specta", specta(type = i32))]
    pub unknown_waiting: i64,
    pub declines: Vec<DeclineLine>,
    #[cfg_attr(feature = "specta", specta(type = i32))]
    pub refunds: i64,
    pub refunded_amount: Money,
    #[cfg_attr(feature = "specta", specta(type = i32))]
    pub refunds_failed: i64,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DeclineLine {
    pub code: Option<String>,
    pub message: Option<String>,
    #[cfg_attr(feature = "specta", specta(type = i32))]
    pub count: i64,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct RecoveryFunnel {
    #[cfg_attr(feature = "specta", specta(type = i32))]
    pub needs_payment_method: i64,
    #[cfg_attr(feature = "specta", specta(type = i32))]
    pub retry_scheduled: i64,
    #[cfg_attr(feature = "specta", specta(type = i32))]
    pub resolved: i64,
    #[cfg_attr(feature = "specta", specta(type = i32))]
    pub failed_final: i64,
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ExportedReport {
    pub path: String,
    pub message: String,
}

impl Services {
    /// The report for `[from, to]` (whole UTC days); the last 30 days when not given.
    pub async fn gateway_report(
        &self,
        actor: &Actor,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<GatewayReport> {
        actor.require(Permission::ViewReports)?;
        let today = self.now().date_naive();
        let to = to.unwrap_or(today);
        let from = from.unwrap_or(to - Duration::days(29));
        if from > to {
            return Err(ServiceError::Invalid(format!(
                "The report starts on {from}, after it ends on {to}: swap the dates."
            )));
        }
        let start = Utc.from_utc_datetime(&from.and_hms_opt(0, 0, 0).expect("midnight"));
        let end = Utc.from_utc_datetime(
            &(to + Duration::days(1))
                .and_hms_opt(0, 0, 0)
                .expect("midnight"),
        );
        let (payments, declines) = self.payment_and_decline_totals(start, end).await?;
        let mut r = self.store().reader().await?;
        let refunds = report::refund_totals(&mut r, start, end).await?;
        let recovery = report::recovery_totals(&mut r, start, end).await?;
        drop(r);

        let mut gateways: Vec<GatewayFigures> = Vec::new();
        for t in &payments {
            let (Ok(gateway), Ok(currency)) = (t.gateway.parse(), t.currency.parse()) else {
                continue;
            };
            let f = figures_for(&mut gateways, gateway, currency);
            f.attempts += t.count;
            match t.status.as_str() {
                "SUCCEEDED" => {
                    f.succeeded += t.count;
                    f.succeeded_amount = Money::from_minor(t.amount_minor, currency);
                }
                "FAILED" => f.failed += t.count,
                _ => f.unknown_waiting += t.count,
            }
        }
        for t in &refunds {
            let (Ok(gateway), Ok(currency)) = (t.gateway.parse(), t.currency.parse()) else {
                continue;
            };
            let f = figures_for(&mut gateways, gateway, currency);
            match t.status.as_str() {
                "SUCCEEDED" => {
                    f.refunds += t.count;
                    f.refunded_amount = Money::from_minor(t.amount_minor, currency);
                }
                "FAILED" => f.refunds_failed += t.count,
                _ => {}
            }
        }
        for f in &mut gateways {
            let settled = f.succeeded + f.failed;
            f.success_rate_percent = (settled > 0)
                .then(|| (f.succeeded as f64 * 1000.0 / settled as f64).round() / 10.0);
            f.declines = declines
                .iter()
                .filter(|d| d.gateway == f.gateway.as_str())
                .map(|d| DeclineLine {
                    code: d.decline_code.clone(),
                    message: d.decline_message.clone(),
                    count: d.count,
                })
                .collect();
        }
        let mut funnel = RecoveryFunnel::default();
        for (status, n) in recovery {
            match status.as_str() {
                "NEEDS_PAYMENT_METHOD" => funnel.needs_payment_method = n,
                "RETRY_SCHEDULED" => funnel.retry_scheduled = n,
                "RESOLVED" => funnel.resolved = n,
                "FAILED_FINAL" => funnel.failed_final = n,
                _ => {}
            }
        }
        Ok(GatewayReport {
            from: from.to_string(),
            to: to.to_string(),
            gateways,
            recovery: funnel,
        })
    }

    /// The payments' totals and declines of `[start, end)`: the closed days' kept totals (made now for
    /// any day not kept yet or changed since) and the last two days counted live. When another desk is
    /// making the day totals at this moment, the whole range is counted live instead of waiting.
    async fn payment_and_decline_totals(
        &self,
        start: chrono::DateTime<Utc>,
        end: chrono::DateTime<Utc>,
    ) -> Result<(Vec<report::PaymentTotals>, Vec<report::DeclineTotals>)> {
        // By the database's clock, as its triggers mark changed days.
        let kept_until = closed_days_end(self.fresh_now().await?).min(end.timestamp_millis());
        let from = start.timestamp_millis();
        // Days not kept yet are counted while the billing manager waits only when they are few (the
        // engine keeps up day by day); the first report over years of history counts live instead.
        if from < kept_until
            && self
                .keep_day_totals(from, kept_until, DAYS_COUNTED_WHILE_ASKED, AtAsking)
                .await?
        {
            let live_from = Utc.timestamp_millis_opt(kept_until).single().unwrap_or(end);
            let mut r = self.store().reader().await?;
            let mut payments = report::kept_payment_totals(&mut r, from, kept_until).await?;
            let mut declines = report::kept_decline_totals(&mut r, from, kept_until).await?;
            if live_from < end {
                payments.extend(report::payment_totals(&mut r, live_from, end).await?);
                declines.extend(report::decline_totals(&mut r, live_from, end).await?);
            }
            return Ok((add_payment_totals(payments), add_decline_totals(declines)));
        }
        let mut r = self.store().reader().await?;
        Ok((
            report::payment_totals(&mut r, start, end).await?,
            report::decline_totals(&mut r, start, end).await?,
        ))
    }

    /// Makes sure the totals of every day in `[from, to)` are kept and true: the days not kept yet (or
    /// changed since) are counted now (at most `most` of them, the most recent first; at asking, none
    /// when there are more), a month of contiguous days to a statement and a transaction, so the
    /// database is never held for long. False when another desk holds the job at this moment, or days
    /// were left for later.
    async fn keep_day_totals(
        &self,
        from: i64,
        to: i64,
        most: usize,
        when: KeepingDays,
    ) -> Result<bool> {
        let (from, fresh) = {
            let mut r = self.store().reader().await?;
            // Before the first payment there is nothing to count: those days are not kept at all.
            let Some(first) = report::first_payment_day(&mut r).await? else {
                return Ok(true);
            };
            let from = from.max(first);
            if from >= to {
                return Ok(true);
            }
            let fresh: std::collections::HashSet<i64> = report::fresh_days(&mut r, from, to)
                .await?
                .into_iter()
                .collect();
            (from, fresh)
        };
        let days = (0..)
            .map(|i| from + i * report::DAY_MS)
            .take_while(|d| *d < to);
        let mut stale: Vec<i64> = days.filter(|d| !fresh.contains(d)).collect();
        let all = stale.len() <= most;
        if !all && when == AtAsking {
            return Ok(false);
        }
        stale.drain(..stale.len().saturating_sub(most));
        const MONTH: i64 = 31 * report::DAY_MS;
        let mut spans: Vec<(i64, i64)> = Vec::new();
        for day in stale {
            match spans.last_mut() {
                Some((start, end)) if *end == day && day - *start < MONTH => {
                    *end = day + report::DAY_MS
                }
                _ => spans.push((day, day + report::DAY_MS)),
            }
        }
        if spans.is_empty() {
            return Ok(true);
        }
        let Some(job) = self
            .store()
            .try_singleton(
                "report-day-totals",
                self.worker_id(),
                self.now(),
                Duration::minutes(10),
            )
            .await?
        else {
            return Ok(false);
        };
        let counted: Result<()> = async {
            for (a, b) in spans.iter().rev() {
                let mut tx = self.store().begin().await?;
                report::summarize_days(&mut tx, *a, *b).await?;
                tx.commit().await?;
            }
            Ok(())
        }
        .await;
        job.release().await?;
        counted.map(|()| all)
    }

    /// The billing engine's share of keeping the report fast: up to `days` closed days not kept yet (or
    /// changed since) are counted each pass, the most recent first, back to the clinic's first payment,
    /// so the billing manager's report rarely waits.
    pub(crate) async fn keep_report_day_totals(&self, days: usize) -> Result<()> {
        let to = closed_days_end(self.fresh_now().await?);
        self.keep_day_totals(i64::MIN / 2, to, days, KeepingDays::ByTheEngine)
            .await
            .map(|_| ())
    }

    /// Failed payments, newest first, optionally only those whose patient, code or message matches.
    pub async fn failed_payments(
        &self,
        actor: &Actor,
        search: Option<&str>,
    ) -> Result<Vec<clinicpay_store::payments::Payment>> {
        actor.require(Permission::ViewPatients)?;
        let mut r = self.store().reader().await?;
        Ok(clinicpay_store::payments::failed_payments(&mut r, search, 500).await?)
    }

    /// Second charges of an invoice, not refunded yet (a late answer from the gateway after the invoice
    /// was paid again), of one patient or of the clinic: each is refunded with one click.
    pub async fn charged_twice(
        &self,
        actor: &Actor,
        patient: Option<clinicpay_domain::PatientId>,
    ) -> Result<Vec<clinicpay_store::payments::Payment>> {
        actor.require(Permission::ViewPatients)?;
        let mut r = self.store().reader().await?;
        Ok(clinicpay_store::payments::charged_twice(&mut r, patient).await?)
    }

    /// Writes the report as CSV (`.csv`) or PDF (`.pdf`) to `file`, and records who exported it.
    pub async fn export_gateway_report(
        &self,
        actor: &Actor,
        report: &GatewayReport,
        file: &std::path::Path,
    ) -> Result<ExportedReport> {
        actor.require(Permission::ViewReports)?;
        let pdf = file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("pdf"));
        let bytes = if pdf {
            gateway_report_pdf(report)
        } else {
            report_csv(report).into_bytes()
        };
        tokio::fs::write(file, bytes).await.map_err(|e| {
            ServiceError::Invalid(format!(
                "The report could not be written to {} ({e}): choose a folder you can write to.",
                file.display()
            ))
        })?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        Change::new(Some(actor), now, "report.exported", "report", "gateway")
            .after(serde_json::json!({
                "from": report.from,
                "to": report.to,
                "format": if pdf { "pdf" } else { "csv" },
                "file": file.display().to_string(),
            }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(ExportedReport {
            path: file.display().to_string(),
            message: format!(
                "The gateway report for {} to {} is saved as {}.",
                report.from,
                report.to,
                file.display()
            ),
        })
    }
}

/// The end of the days whose totals are kept (exclusive, UTC ms): days that ended at least a day ago. The
/// last two days are always counted live, so today's billing never touches the kept totals, and a day
/// is kept only once late answers and the janitor are mostly done with it.
/// At most this many days not kept yet are counted while someone waits for a report: a month's.
const DAYS_COUNTED_WHILE_ASKED: usize = 31;

/// Who is counting days: someone asking for a report (who should not wait through years of
/// history), or the billing engine in the background (a few days each pass).
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeepingDays {
    AtAsking,
    ByTheEngine,
}
use KeepingDays::AtAsking;

fn closed_days_end(now: chrono::DateTime<Utc>) -> i64 {
    let t = now.timestamp_millis();
    t - t.rem_euclid(report::DAY_MS) - report::DAY_MS
}

/// Kept and live totals of the same gateway, status and currency added together.
fn add_payment_totals(rows: Vec<report::PaymentTotals>) -> Vec<report::PaymentTotals> {
    let mut by_key: std::collections::BTreeMap<(String, String, String), (i64, i64)> =
        std::collections::BTreeMap::new();
    for t in rows {
        let e = by_key.entry((t.gateway, t.status, t.currency)).or_default();
        e.0 += t.count;
        e.1 += t.amount_minor;
    }
    by_key
        .into_iter()
        .map(
            |((gateway, status, currency), (count, amount_minor))| report::PaymentTotals {
                gateway,
                status,
                currency,
                count,
                amount_minor,
            },
        )
        .collect()
}

/// Kept and live declines of the same code and words added together, most frequent first.
fn add_decline_totals(rows: Vec<report::DeclineTotals>) -> Vec<report::DeclineTotals> {
    let mut by_key: std::collections::BTreeMap<(String, Option<String>, Option<String>), i64> =
        std::collections::BTreeMap::new();
    for d in rows {
        *by_key
            .entry((d.gateway, d.decline_code, d.decline_message))
            .or_default() += d.count;
    }
    let mut out: Vec<report::DeclineTotals> = by_key
        .into_iter()
        .map(
            |((gateway, decline_code, decline_message), count)| report::DeclineTotals {
                gateway,
                decline_code,
                decline_message,
                count,
            },
        )
        .collect();
    out.sort_by(|a, b| {
        (
            a.gateway.as_str(),
            std::cmp::Reverse(a.count),
            &a.decline_code,
        )
            .cmp(&(
                b.gateway.as_str(),
                std::cmp::Reverse(b.count),
                &b.decline_code,
            ))
    });
    out
}

/// The figures of one gateway and currency, added the first time they are seen.
fn figures_for(
    all: &mut Vec<GatewayFigures>,
    gateway: Gateway,
    currency: Currency,
) -> &mut GatewayFigures {
    let at = match all
        .iter()
        .position(|f| f.gateway == gateway && f.currency == currency)
    {
        Some(i) => i,
        None => {
            all.push(GatewayFigures {
                gateway,
                currency,
                attempts: 0,
                succeeded: 0,
                succeeded_amount: Money::from_minor(0, currency),
                failed: 0,
                success_rate_percent: None,
                unknown_waiting: 0,
                declines: Vec::new(),
                refunds: 0,
                refunded_amount: Money::from_minor(0, currency),
                refunds_failed: 0,
            });
            all.len() - 1
        }
    };
    &mut all[at]
}

/// One row per figure (section, gateway, currency, item, count, amount), so a spreadsheet can pivot it.
/// Amounts are decimals in the currency's units, as `clinicpay` prints them.
pub fn report_csv(report: &GatewayReport) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(["section", "gateway", "currency", "item", "count", "amount"]);
    for g in &report.gateways {
        let gw = g.gateway.as_str();
        let cur = g.currency.code();
        let rows: Vec<(&str, String, i64, String)> = vec![
            ("payments", "attempted".into(), g.attempts, String::new()),
            (
                "payments",
                "succeeded".into(),
                g.succeeded,
                g.succeeded_amount.plain(),
            ),
            ("payments", "failed".into(), g.failed, String::new()),
            (
                "payments",
                "unknown_waiting".into(),
                g.unknown_waiting,
                String::new(),
            ),
            (
                "payments",
                "success_rate_percent".into(),
                0,
                g.success_rate_percent
                    .map(|r| format!("{r:.1}"))
                    .unwrap_or_default(),
            ),
            (
                "refunds",
                "succeeded".into(),
                g.refunds,
                g.refunded_amount.plain(),
            ),
            ("refunds", "failed".into(), g.refunds_failed, String::new()),
        ];
        for (section, item, count, amount) in rows {
            let _ = w.write_record([section, gw, cur, &item, &count.to_string(), &amount]);
        }
        for d in &g.declines {
            let item = format!(
                "{}: {}",
                d.code.as_deref().unwrap_or("no code"),
                d.message.as_deref().unwrap_or("no message")
            );
            let item = spreadsheet_safe(&item);
            let _ = w.write_record(["declines", gw, cur, &item, &d.count.to_string(), ""]);
        }
    }
    let r = &report.recovery;
    for (item, n) in [
        ("needs_payment_method", r.needs_payment_method),
        ("retry_scheduled", r.retry_scheduled),
        ("resolved", r.resolved),
        ("failed_final", r.failed_final),
    ] {
        let _ = w.write_record(["recovery", "", "", item, &n.to_string(), ""]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// A text cell a spreadsheet shows as text: one starting with `=`, `+`, `-`, `@`, a tab or a carriage
/// return would be read as a formula (a decline message is the gateway's text, not ours), so it gets a
/// leading apostrophe, as OWASP's advice on CSV injection says.
pub fn spreadsheet_safe(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

/// The gateway report as a PDF: the figures per gateway and currency, the declines, the recovery funnel.
pub fn gateway_report_pdf(report: &GatewayReport) -> Vec<u8> {
    let title = format!("ClinicPay gateway report, {} to {}", report.from, report.to);
    let mut lines = vec![heading(&title, 15.0), blank()];
    for g in &report.gateways {
        lines.push(heading(&format!("{} ({})", g.gateway, g.currency), 12.0));
        for text in [
            format!("Payments attempted: {}", g.attempts),
            format!("Succeeded: {} for {}", g.succeeded, g.succeeded_amount),
            format!("Failed: {}", g.failed),
            format!(
                "Success rate: {}",
                g.success_rate_percent
                    .map(|r| format!("{r:.1} %"))
                    .unwrap_or_else(|| "no settled payments".into())
            ),
            format!(
                "Unknown outcomes waiting for the janitor: {}",
                g.unknown_waiting
            ),
            format!(
                "Refunds: {} for {} ({} failed)",
                g.refunds, g.refunded_amount, g.refunds_failed
            ),
        ] {
            lines.push(body(&text, 0.0));
        }
        if !g.declines.is_empty() {
            lines.push(body("Declines by code:", 0.0));
            for d in &g.declines {
                for (i, part) in wrap(
                    &format!(
                        "{} x {}: {}",
                        d.count,
                        d.code.as_deref().unwrap_or("no code"),
                        d.message.as_deref().unwrap_or("no message")
                    ),
                    WRAP - 4,
                )
                .into_iter()
                .enumerate()
                {
                    lines.push(body(&part, if i == 0 { 12.0 } else { 24.0 }));
                }
            }
        }
        lines.push(blank());
    }
    let r = &report.recovery;
    lines.push(heading(
        "Recovery funnel (recoveries that began in the range)",
        12.0,
    ));
    for text in [
        format!("Needs payment method: {}", r.needs_payment_method),
        format!("Retry scheduled: {}", r.retry_scheduled),
        format!("Resolved: {}", r.resolved),
        format!("Failed final: {}", r.failed_final),
    ] {
        lines.push(body(&text, 0.0));
    }
    render(&title, &lines)
}

#[cfg(test)]
mod csv_tests {
    use super::spreadsheet_safe;

    #[test]
    fn a_cell_a_spreadsheet_would_run_as_a_formula_is_kept_as_text() {
        for bad in [
            "=HYPERLINK(\"http://x\")",
            "+1+1",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            assert_eq!(spreadsheet_safe(bad), format!("'{bad}"));
        }
        assert_eq!(
            spreadsheet_safe("do_not_honor: Declined"),
            "do_not_honor: Declined"
        );
    }
}

//! The janitor: payments and refunds whose outcome is unknown (a timeout, a crash between sending and
//! recording) are looked up at the gateway by our key and settled as the gateway says, never charged
//! twice (Stripe's idempotent replay of the same request is the one exception, and it charges once).

use chrono::Duration;
use clinicpay_domain::decline::{advise, DeclineAction};
use clinicpay_domain::{OrganizationSettings, PaymentStatus};
use clinicpay_gateways::{ChargeOutcome, ChargeRequest, LookupOutcome};
use clinicpay_store::payments::Settlement;
use clinicpay_store::{patients, payment_methods as cards_repo, payments, refunds};
use serde::Serialize;

use super::refunds::mark_refunded;
use crate::billing::Charged;
use crate::{Change, Result, Services};

/// How long an unsettled payment is left to its own attempt before the janitor asks the gateway:
/// longer than a client's whole call with its retries.
pub const JANITOR_GRACE: Duration = Duration::minutes(5);

/// Stripe keeps an idempotent request's answer for 24 hours, but a replay of a request that never
/// reached Stripe charges now: the janitor replays only within the hour staff were told "ClinicPay
/// checks within minutes", and only while the charge is still wanted.
pub const REPLAY_WINDOW: Duration = Duration::hours(1);

/// What one janitor pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JanitorReport {
    pub looked_at: u32,
    pub found_paid: u32,
    pub found_not_paid: u32,
    pub still_unknown: u32,
    pub refunds_looked_at: u32,
    pub refunds_found_done: u32,
    pub refunds_found_not_done: u32,
    /// Payments and refunds the janitor cannot look up at all (no key for their gateway on this
    /// computer, no patient record at the gateway): they wait, and say why, without holding up others.
    pub cannot_look_up: u32,
    /// Why, once per reason.
    pub cannot_look_up_because: Vec<String>,
    /// Gateways found unreachable from this computer in this pass (no key, no keychain): their other
    /// rows wait without asking the keychain again for each.
    #[serde(skip)]
    unreachable: Vec<clinicpay_domain::Gateway>,
}

impl JanitorReport {
    fn cannot_look_up(&mut self, why: String) {
        self.cannot_look_up += 1;
        if !self.cannot_look_up_because.contains(&why) && self.cannot_look_up_because.len() < 10 {
            self.cannot_look_up_because.push(why);
        }
    }
}

/// The janitor reads this many unsettled rows at a time, oldest first, until it has seen them all.
const PAGE: i64 = 200;

impl Services {
    /// Settles payments whose outcome is unknown (a lost answer, a crash between recording and
    /// charging) by asking the gateway for the charge made with their key. Never charges a second time:
    /// on Stripe, within 24 hours, it asks again with the original request and Idempotency-Key, which
    /// Stripe answers with what it did, or does now, once, if the first request never reached it.
    pub async fn settle_unknown_payments(&self) -> Result<JanitorReport> {
        let settings = self.load_settings().await?;
        let mut report = JanitorReport::default();
        let cutoff = self.fresh_now().await? - JANITOR_GRACE;
        let mut after = clinicpay_domain::PaymentId(0);
        loop {
            let page = {
                let mut r = self.store().reader().await?;
                payments::unsettled_payments(&mut r, cutoff, after, PAGE).await?
            };
            let Some(last) = page.last() else { break };
            after = last.id;
            let full = page.len() as i64 == PAGE;
            for p in page {
                self.settle_unknown_payment(p, &settings, &mut report)
                    .await?;
            }
            if !full {
                break;
            }
        }
        self.settle_unknown_refunds(&settings, &mut report).await?;
        Ok(report)
    }

    /// Looks one unsettled payment up and settles it as the gateway says.
    pub(crate) async fn settle_unknown_payment(
        &self,
        p: payments::Payment,
        settings: &OrganizationSettings,
        report: &mut JanitorReport,
    ) -> Result<()> {
        report.looked_at += 1;
        if report.unreachable.contains(&p.gateway) {
            report.cannot_look_up += 1;
            return Ok(());
        }
        let client = match self
            .gateway_client(p.gateway, settings, Some(p.patient_id))
            .await
        {
            Ok(c) => c,
            Err(e) => {
                report.unreachable.push(p.gateway);
                report.cannot_look_up(format!("{}: {e}", p.gateway));
                return Ok(());
            }
        };
        let (token, customer) = {
            let mut r = self.store().reader().await?;
            let token = match p.payment_method_id {
                Some(c) => cards_repo::get(&mut r, c).await?.map(|c| c.token),
                None => None,
            };
            let customer = patients::gateway_customer(&mut r, p.patient_id, p.gateway).await?;
            (token.unwrap_or_default(), customer)
        };
        let request = ChargeRequest {
            payment_key: p.idempotency_key.clone(),
            card_token: token,
            customer,
            amount: p.amount,
            check_duplicates: false,
        };
        // While the gateway keeps the first answer to our key, asking again with the same request is
        // authoritative (a listing can lag); after that, or where there is no replay, the listing.
        // Only an UNKNOWN payment was certainly sent (a PENDING one may never have left this desk).
        let replayed = if !request.card_token.is_empty()
            && p.status == PaymentStatus::Unknown
            && self.now() - p.created_at < REPLAY_WINDOW
            && self.replay_still_wanted(&p).await?
        {
            client.replay_charge(&request).await
        } else {
            None
        };
        let looked = match replayed {
            Some(Ok(found)) => Ok(found),
            _ => client.lookup(&request).await,
        };
        let outcome = match looked {
            // The charge was answered with a code that meant "look it up" (a processor
            // communication error, a duplicate at the processor) and the gateway's record says it
            // was not done: nothing was charged and the bank declined nothing, so it is not a
            // decline or a recovery attempt: the order is simply due again.
            Ok(LookupOutcome::Found(ChargeOutcome::Declined {
                code,
                message,
                reference,
            })) if advise(p.gateway, &code).action == DeclineAction::LookUp => {
                ChargeOutcome::Declined {
                    code: "not_sent".into(),
                    message: format!(
                        "{} shows this charge not done ({code}: {message}).",
                        p.gateway
                    ),
                    reference,
                }
            }
            Ok(LookupOutcome::Found(
                o @ (ChargeOutcome::Succeeded { .. } | ChargeOutcome::Declined { .. }),
            )) => o,
            // The gateway has no charge with this key. Its records can lag behind its answers and
            // a charge can still be in flight, so one look settles nothing: only a second look, at
            // least SECOND_LOOK later, that agrees records that it never happened.
            Ok(LookupOutcome::NotFound) if !self.second_look(Row::Payment(p.id)).await? => {
                report.still_unknown += 1;
                return Ok(());
            }
            Ok(LookupOutcome::NotFound) => ChargeOutcome::Declined {
                code: "not_sent".into(),
                message: format!(
                    "{} has no charge for this payment: it never went through.",
                    p.gateway
                ),
                reference: None,
            },
            _ => {
                report.still_unknown += 1;
                return Ok(());
            }
        };
        match self.settle(p.id, p.status, outcome, None).await? {
            Charged::Paid(_) => report.found_paid += 1,
            _ => report.found_not_paid += 1,
        }
        Ok(())
    }

    /// Settles refunds whose answer was lost, by asking the payment's gateway for the refund made with
    /// their key. Never refunds.
    pub(crate) async fn settle_unknown_refunds(
        &self,
        settings: &OrganizationSettings,
        report: &mut JanitorReport,
    ) -> Result<()> {
        let cutoff = self.fresh_now().await? - JANITOR_GRACE;
        let mut after = 0;
        loop {
            let page = {
                let mut r = self.store().reader().await?;
                refunds::unsettled_refunds(&mut r, cutoff, after, PAGE).await?
            };
            let Some(last) = page.last() else { break };
            after = last.id;
            let full = page.len() as i64 == PAGE;
            for refund in page {
                self.settle_unknown_refund(refund, settings, report).await?;
            }
            if !full {
                break;
            }
        }
        Ok(())
    }

    /// Looks one unsettled refund up and settles it as the gateway says.
    async fn settle_unknown_refund(
        &self,
        refund: refunds::Refund,
        settings: &OrganizationSettings,
        report: &mut JanitorReport,
    ) -> Result<()> {
        report.refunds_looked_at += 1;
        let payment = {
            let mut r = self.store().reader().await?;
            payments::payment(&mut r, refund.payment_id).await?
        };
        let Some(payment) = payment else {
            return Ok(());
        };
        let Some(reference) = payment.gateway_reference.clone() else {
            report.cannot_look_up(format!(
                "refund {}: its payment {} has no gateway reference",
                refund.id, payment.id
            ));
            return Ok(());
        };
        if report.unreachable.contains(&refund.gateway) {
            report.cannot_look_up += 1;
            return Ok(());
        }
        let client = match self
            .gateway_client(refund.gateway, settings, Some(payment.patient_id))
            .await
        {
            Ok(c) => c,
            Err(e) => {
                report.unreachable.push(refund.gateway);
                report.cannot_look_up(format!("{}: {e}", refund.gateway));
                return Ok(());
            }
        };
        let (to, settlement) = match client
            .lookup_refund(&reference, &refund.idempotency_key)
            .await
        {
            Ok(LookupOutcome::Found(ChargeOutcome::Succeeded { reference })) => (
                PaymentStatus::Succeeded,
                Settlement {
                    gateway_reference: Some(reference),
                    ..Settlement::default()
                },
            ),
            Ok(LookupOutcome::Found(ChargeOutcome::Declined { message, .. })) => (
                PaymentStatus::Failed,
                Settlement {
                    message: Some(message),
                    ..Settlement::default()
                },
            ),
            Ok(LookupOutcome::NotFound) if !self.second_look(Row::Refund(refund.id)).await? => {
                return Ok(());
            }
            Ok(LookupOutcome::NotFound) => (
                PaymentStatus::Failed,
                Settlement {
                    message: Some(format!(
                        "{} has no such refund: it never went through.",
                        refund.gateway
                    )),
                    ..Settlement::default()
                },
            ),
            _ => return Ok(()),
        };
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if !refunds::settle_refund(&mut tx, refund.id, refund.status, to, &settlement, now).await? {
            return Ok(());
        }
        if to == PaymentStatus::Succeeded {
            report.refunds_found_done += 1;
            let refunded: i64 = refunds::refunds_of(&mut tx, payment.id)
                .await?
                .iter()
                .filter(|r| r.status == PaymentStatus::Succeeded)
                .map(|r| r.amount.minor)
                .sum();
            if refunded >= payment.amount.minor {
                mark_refunded(&mut tx, &payment, now).await?;
            }
        } else {
            report.refunds_found_not_done += 1;
        }
        Change::new(None, now, if to == PaymentStatus::Succeeded { "refund.succeeded" } else { "refund.failed" }, "payment", payment.id)
            .by_system("ClinicPay (refund outcome from the gateway)")
            .patient(payment.patient_id)
            .after(serde_json::json!({ "refund": refund.id, "amount": refund.amount, "status": to.as_str() }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl Services {
    /// A replay may do the charge now: only while its invoice is still open, its card still on file,
    /// and the patient was not charged the same amount since (a new checkout, another desk).
    async fn replay_still_wanted(&self, p: &payments::Payment) -> Result<bool> {
        let mut r = self.store().reader().await?;
        if let Some(invoice) = p.invoice_id {
            let open = clinicpay_store::invoices::invoice(&mut r, invoice)
                .await?
                .is_some_and(|i| i.status == clinicpay_domain::InvoiceStatus::Open);
            if !open {
                return Ok(false);
            }
        }
        if let Some(card) = p.payment_method_id {
            if !cards_repo::get(&mut r, card)
                .await?
                .is_some_and(|c| c.is_active())
            {
                return Ok(false);
            }
        }
        let paid_since = payments::payments(&mut r, Some(p.patient_id), 50)
            .await?
            .iter()
            .any(|o| {
                o.id != p.id
                    && o.status == PaymentStatus::Succeeded
                    && o.amount == p.amount
                    && o.created_at >= p.created_at
            });
        Ok(!paid_since)
    }
}

/// How long after a look-up that found nothing a second one must agree before a payment or refund is
/// recorded as never sent.
pub const SECOND_LOOK: Duration = Duration::minutes(5);

/// An unsettled row the janitor looks up.
enum Row {
    Payment(clinicpay_domain::PaymentId),
    Refund(i64),
}

impl Services {
    /// Notes a look-up that found nothing and says whether an earlier one, at least `SECOND_LOOK`
    /// before, found nothing too.
    async fn second_look(&self, row: Row) -> Result<bool> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let first = match row {
            Row::Payment(id) => payments::note_not_found(&mut tx, id, now).await?,
            Row::Refund(id) => refunds::note_not_found(&mut tx, id, now).await?,
        };
        tx.commit().await?;
        Ok(now - first >= SECOND_LOOK)
    }
}

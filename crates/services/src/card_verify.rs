//! Verify a card (document 000: "test payment after updating"; the UI brief's ⋮ Verify): a zero-amount
//! check of a saved card at its own gateway, as each documents it (NMI `type=validate`, a Stripe
//! SetupIntent confirmed off-session). Nothing is charged. The outcome goes on the card (its latest
//! check shows in Payment Methods) and in the activity log with who asked.

use chrono::{DateTime, Utc};
use clinicpay_domain::{PaymentMethodId, Permission};
use clinicpay_gateways::VerifyOutcome;
use clinicpay_store::{patients, payment_methods as repo};
use serde::Serialize;

use crate::cards::CardView;
use crate::{Actor, Change, Result, ServiceError, Services};

/// A card's latest check, as its row shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CardVerification {
    pub at: DateTime<Utc>,
    /// `verified`, `refused` or `unknown`.
    pub outcome: String,
    /// "Verified on 01 Dec 2026", "Refused on 01 Dec 2026: Expired card (223)".
    pub summary: String,
}

impl CardVerification {
    pub(crate) fn of(v: &repo::Verification) -> CardVerification {
        let day = v.at.format("%d %b %Y");
        let words = v
            .message
            .as_deref()
            .map(|m| match &v.code {
                Some(c) if !c.is_empty() => format!(": {m} ({c})"),
                _ => format!(": {m}"),
            })
            .unwrap_or_default();
        CardVerification {
            at: v.at,
            outcome: v.outcome.clone(),
            summary: match v.outcome.as_str() {
                "verified" => format!("Verified on {day}"),
                "refused" => format!("Refused on {day}{words}"),
                _ => format!("Not checked on {day}: no answer from the gateway"),
            },
        }
    }
}

/// A verified card and the sentence to show.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CardVerified {
    pub card: CardView,
    pub verification: CardVerification,
    pub message: String,
}

impl Services {
    /// Checks a saved card with its gateway for no money. Verified: the answer. Refused by the bank:
    /// `Declined` with its words (exit 4). No answer: `GatewayUnavailable` (exit 5). Each is recorded.
    pub async fn verify_card(&self, actor: &Actor, card: PaymentMethodId) -> Result<CardVerified> {
        actor.require(Permission::ManageCards)?;
        let settings = self.load_settings().await?;
        let now = self.now();
        let (c, customer) = {
            let mut r = self.store().reader().await?;
            let c = self.require_card(&mut r, card).await?;
            let customer = patients::gateway_customer(&mut r, c.patient_id, c.gateway).await?;
            (c, customer)
        };
        if !c.is_active() {
            return Err(ServiceError::CardRule(format!(
                "{} was deleted: there is nothing to verify.",
                c.describe()
            )));
        }
        if c.expiry.is_expired(now) {
            return Err(ServiceError::CardRule(format!(
                "{} expired in {}: ask the patient for a new card rather than verifying this one.",
                c.describe(),
                c.expiry
            )));
        }
        // At the card's own gateway, whichever the clinic takes new cards through now.
        let client = self
            .gateway_client(c.gateway, &settings, Some(c.patient_id))
            .await?;
        let key = format!(
            "cp-verify-{:016x}{:08x}",
            rand::random::<u64>(),
            rand::random::<u32>()
        );
        let outcome = match client
            .verify_card(&c.token, customer.as_deref(), &key)
            .await
        {
            // Only the bank's decline is "refused"; the gateway refusing the request itself (an
            // imported card under another customer, a bad parameter) says nothing about the card.
            VerifyOutcome::Refused { code, message }
                if !crate::gateways::is_card_decline(c.gateway, &code) =>
            {
                VerifyOutcome::Unknown {
                    message: format!("{message} ({code})"),
                }
            }
            other => other,
        };
        let (kind, code, message, reference) = match &outcome {
            VerifyOutcome::Verified { reference } => ("verified", None, None, reference.clone()),
            VerifyOutcome::Refused { code, message } => {
                ("refused", Some(code.clone()), Some(message.clone()), None)
            }
            VerifyOutcome::Unknown { message } => ("unknown", None, Some(message.clone()), None),
        };
        let mut tx = self.store().begin().await?;
        repo::record_verification(
            &mut tx,
            c.id,
            now,
            kind,
            code.as_deref(),
            message.as_deref(),
            reference.as_deref(),
            Some(actor.id.0),
        )
        .await?;
        Change::new(Some(actor), now, "card.verified", "payment_method", c.id)
            .patient(c.patient_id)
            .after(serde_json::json!({
                "description": c.describe(),
                "gateway": c.gateway.as_str(),
                "outcome": kind,
                "code": code,
                "message": message,
            }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        let verification = CardVerification::of(&repo::Verification {
            card: c.id,
            at: now,
            outcome: kind.into(),
            code: code.clone(),
            message: message.clone(),
        });
        match outcome {
            VerifyOutcome::Verified { .. } => Ok(CardVerified {
                message: format!(
                    "{} was verified with {}: the bank accepted it, and nothing was charged.",
                    c.describe(),
                    c.gateway
                ),
                card: CardView {
                    last_verification: Some(verification.clone()),
                    ..CardView::of(&c, now)
                },
                verification,
            }),
            VerifyOutcome::Refused { code, message } => {
                let advice = clinicpay_domain::decline::advise(c.gateway, &code);
                Err(ServiceError::Declined(format!(
                    "{gateway} refused {card} when it was checked: {words} Nothing was charged.",
                    gateway = c.gateway,
                    card = c.describe(),
                    words = advice.desk_message(c.gateway, &code, &message),
                )))
            }
            VerifyOutcome::Unknown { message } => Err(ServiceError::GatewayUnavailable(format!(
                "{} could not check {} ({message}). Nothing was charged: try again in a minute.",
                c.gateway,
                c.describe()
            ))),
        }
    }
}

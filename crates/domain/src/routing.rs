//! Which gateway and card a charge of a subscription or recovery order goes to (document 003, "Gateway
//! Compatibility", "Subscription Billing", "Manual Retry"). A subscription stays on the gateway that
//! first charged it while the patient has a usable card there; once they have none (the clinic moved,
//! the card is gone or expired), it follows the clinic to the active gateway, and the first success
//! there locks it again. The fallback gateway comes last where the caller allows it (Manual Retry). A
//! card the patient has just saved is tried first.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{Gateway, PaymentMethod, PaymentMethodId};

/// What is being charged, and who asked.
#[derive(Debug, Clone, Copy)]
pub struct ChargeAsk {
    /// Staff's Manual Retry: the gateway they chose, or the active one. `None` for the billing engine
    /// and the retry that follows a saved card.
    pub staff_chose: Option<Gateway>,
    /// The configured fallback may be tried last (Manual Retry, document 003).
    pub allow_fallback: bool,
    /// The card the patient has just saved: it goes first.
    pub just_saved: Option<PaymentMethodId>,
    /// The subscription's (else the order's) locked gateway.
    pub locked: Option<Gateway>,
    pub active: Gateway,
    pub fallback: Option<Gateway>,
}

/// Why a charge goes where it goes, in words staff can repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum RouteReason {
    /// The card the patient has just saved.
    CardJustSaved,
    /// The gateway staff chose for this retry.
    StaffChose,
    /// The subscription's locked gateway, where the patient still has a usable card.
    Locked,
    /// No lock yet: the clinic's active gateway.
    Active,
    /// Locked elsewhere, but the patient has no usable card there (or its key is not on this computer):
    /// the charge follows the clinic to its active gateway, and success locks it there.
    FollowsClinic,
    /// The configured fallback gateway, the others having no usable card.
    Fallback,
}

/// One place a charge may go: a gateway, the card to use on it, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeCandidate {
    pub gateway: Gateway,
    pub card: PaymentMethodId,
    pub reason: RouteReason,
}

/// Where a charge may go, best first (a gateway whose key turns out missing is passed over for the
/// next), and the gateway a card must be saved for when there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRoute {
    pub candidates: Vec<ChargeCandidate>,
    /// The gateway staff should ask the patient to save a card for when no candidate remains.
    pub needs_card_for: Gateway,
}

/// A card a charge on `gateway` may use now: saved for that gateway, not deleted, not expired.
fn usable(card: &PaymentMethod, gateway: Gateway, now: DateTime<Utc>) -> bool {
    card.usable_with(gateway) && !card.expiry.is_expired(now)
}

/// The best usable card on `gateway`: the default, else the one that expires last, else the newest.
fn best_on(
    cards: &[PaymentMethod],
    gateway: Gateway,
    now: DateTime<Utc>,
) -> Option<PaymentMethodId> {
    cards
        .iter()
        .filter(|c| usable(c, gateway, now))
        .max_by_key(|c| (c.is_default, c.expiry, c.created_at))
        .map(|c| c.id)
}

/// Where a charge may go, best first.
pub fn route_charge(cards: &[PaymentMethod], ask: ChargeAsk, now: DateTime<Utc>) -> ChargeRoute {
    let mut candidates: Vec<ChargeCandidate> = Vec::new();
    let mut push = |gateway: Gateway, card: Option<PaymentMethodId>, reason: RouteReason| {
        if let Some(card) = card {
            if !candidates.iter().any(|c| c.gateway == gateway) {
                candidates.push(ChargeCandidate {
                    gateway,
                    card,
                    reason,
                });
            }
        }
    };
    if let Some(saved) = ask
        .just_saved
        .and_then(|id| cards.iter().find(|c| c.id == id))
    {
        let gateway = saved.gateway;
        let allowed = ask.staff_chose.is_none_or(|g| g == gateway);
        if allowed && usable(saved, gateway, now) {
            push(gateway, Some(saved.id), RouteReason::CardJustSaved);
        }
    }
    let first = match ask.staff_chose {
        Some(chosen) => {
            push(chosen, best_on(cards, chosen, now), RouteReason::StaffChose);
            chosen
        }
        None => match ask.locked {
            Some(locked) => {
                push(locked, best_on(cards, locked, now), RouteReason::Locked);
                if locked != ask.active {
                    push(
                        ask.active,
                        best_on(cards, ask.active, now),
                        RouteReason::FollowsClinic,
                    );
                }
                ask.active
            }
            None => {
                push(
                    ask.active,
                    best_on(cards, ask.active, now),
                    RouteReason::Active,
                );
                ask.active
            }
        },
    };
    if ask.allow_fallback {
        if let Some(fallback) = ask.fallback {
            push(
                fallback,
                best_on(cards, fallback, now),
                RouteReason::Fallback,
            );
        }
    }
    ChargeRoute {
        candidates,
        needs_card_for: first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::{CardBrand, CardExpiry};
    use crate::PatientId;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 15, 12, 0, 0).unwrap()
    }

    fn card(id: i64, gateway: Gateway, default: bool, expiry: (u32, i32)) -> PaymentMethod {
        PaymentMethod {
            id: PaymentMethodId(id),
            patient_id: PatientId(1),
            gateway,
            token: format!("tok_{id}"),
            brand: CardBrand::Visa,
            last4: "4242".into(),
            expiry: CardExpiry::new(expiry.0, expiry.1).unwrap(),
            cardholder_name: "Ana".into(),
            nickname: None,
            country: None,
            fingerprint: None,
            is_default: default,
            details_missing: false,
            created_at: now(),
            removed_at: None,
            checked_at: None,
            renewed_at: None,
        }
    }

    fn ask(locked: Option<Gateway>, active: Gateway) -> ChargeAsk {
        ChargeAsk {
            staff_chose: None,
            allow_fallback: true,
            just_saved: None,
            locked,
            active,
            fallback: None,
        }
    }

    fn route(cards: &[PaymentMethod], ask: ChargeAsk) -> Vec<(Gateway, i64, RouteReason)> {
        route_charge(cards, ask, now())
            .candidates
            .into_iter()
            .map(|c| (c.gateway, c.card.0, c.reason))
            .collect()
    }

    #[test]
    fn a_subscription_stays_on_its_locked_gateway_while_the_patient_has_a_usable_card_there() {
        let cards = [
            card(1, Gateway::Stripe, true, (12, 2030)),
            card(2, Gateway::Nmi, false, (12, 2030)),
        ];
        let r = route(&cards, ask(Some(Gateway::Stripe), Gateway::Nmi));
        assert_eq!(r[0], (Gateway::Stripe, 1, RouteReason::Locked));
        assert_eq!(
            r[1],
            (Gateway::Nmi, 2, RouteReason::FollowsClinic),
            "then the clinic's gateway"
        );
    }

    #[test]
    fn without_a_usable_card_on_the_locked_gateway_the_charge_follows_the_clinic() {
        // The Stripe card expired; the patient re-saved for NMI as document 003 asks.
        let cards = [
            card(1, Gateway::Stripe, true, (3, 2026)),
            card(2, Gateway::Nmi, false, (12, 2030)),
        ];
        let r = route_charge(&cards, ask(Some(Gateway::Stripe), Gateway::Nmi), now());
        assert_eq!(r.candidates.len(), 1);
        assert_eq!(
            (r.candidates[0].gateway, r.candidates[0].reason),
            (Gateway::Nmi, RouteReason::FollowsClinic)
        );
        assert_eq!(
            r.needs_card_for,
            Gateway::Nmi,
            "staff ask for a card on the clinic's gateway, never the old one"
        );
    }

    #[test]
    fn the_card_just_saved_goes_first_even_when_the_default_fits() {
        let cards = [
            card(1, Gateway::Nmi, true, (12, 2030)),
            card(2, Gateway::Nmi, false, (12, 2029)),
        ];
        let mut a = ask(Some(Gateway::Nmi), Gateway::Nmi);
        a.just_saved = Some(PaymentMethodId(2));
        let r = route(&cards, a);
        assert_eq!(
            r,
            vec![(Gateway::Nmi, 2, RouteReason::CardJustSaved)],
            "one try per gateway: the new card"
        );
    }

    #[test]
    fn a_just_saved_card_that_is_deleted_or_expired_is_not_tried() {
        let mut gone = card(2, Gateway::Nmi, false, (12, 2030));
        gone.removed_at = Some(now());
        let cards = [card(1, Gateway::Nmi, true, (12, 2030)), gone];
        let mut a = ask(None, Gateway::Nmi);
        a.just_saved = Some(PaymentMethodId(2));
        assert_eq!(
            route(&cards, a),
            vec![(Gateway::Nmi, 1, RouteReason::Active)]
        );
    }

    #[test]
    fn staff_choice_comes_first_then_the_fallback_when_allowed() {
        let cards = [
            card(1, Gateway::Stripe, true, (12, 2030)),
            card(2, Gateway::Nmi, false, (12, 2030)),
        ];
        let mut a = ask(Some(Gateway::Stripe), Gateway::Stripe);
        a.staff_chose = Some(Gateway::Nmi);
        a.fallback = Some(Gateway::Stripe);
        assert_eq!(
            route(&cards, a),
            vec![
                (Gateway::Nmi, 2, RouteReason::StaffChose),
                (Gateway::Stripe, 1, RouteReason::Fallback)
            ]
        );
        a.allow_fallback = false;
        assert_eq!(
            route(&cards, a),
            vec![(Gateway::Nmi, 2, RouteReason::StaffChose)]
        );
    }

    #[test]
    fn a_card_just_saved_for_another_gateway_than_staff_chose_is_not_used() {
        let cards = [
            card(1, Gateway::Stripe, true, (12, 2030)),
            card(2, Gateway::Nmi, false, (12, 2030)),
        ];
        let mut a = ask(None, Gateway::Nmi);
        a.staff_chose = Some(Gateway::Stripe);
        a.just_saved = Some(PaymentMethodId(2));
        assert_eq!(
            route(&cards, a),
            vec![(Gateway::Stripe, 1, RouteReason::StaffChose)]
        );
    }

    #[test]
    fn no_usable_card_anywhere_names_the_gateway_to_save_for() {
        let cards = [card(1, Gateway::Stripe, true, (12, 2030))];
        let r = route_charge(&cards, ask(None, Gateway::Nmi), now());
        assert!(r.candidates.is_empty());
        assert_eq!(r.needs_card_for, Gateway::Nmi);
    }
}

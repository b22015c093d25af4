//! Saved cards ("payment methods") and the rules of product document 000: defaults, deletion, expiry, and
//! the gateway compatibility rule of document 003 (a card is usable only by its own gateway).
//! Long because its rules' unit tests sit below them (about 190 lines of the file).

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::{DomainError, Gateway, PatientId, PaymentMethodId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardBrand {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Jcb,
    DinersClub,
    UnionPay,
    Unknown,
}

impl CardBrand {
    /// Reads the brand names gateways use ("visa", "mc", "American Express", "amex", …).
    pub fn from_gateway_name(name: &str) -> CardBrand {
        let n: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match n.as_str() {
            "visa" => CardBrand::Visa,
            "mastercard" | "mc" | "master" => CardBrand::Mastercard,
            "amex" | "americanexpress" => CardBrand::Amex,
            "discover" | "disc" => CardBrand::Discover,
            "jcb" => CardBrand::Jcb,
            "diners" | "dinersclub" | "diner" => CardBrand::DinersClub,
            "unionpay" | "cup" => CardBrand::UnionPay,
            _ => CardBrand::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CardBrand::Visa => "visa",
            CardBrand::Mastercard => "mastercard",
            CardBrand::Amex => "amex",
            CardBrand::Discover => "discover",
            CardBrand::Jcb => "jcb",
            CardBrand::DinersClub => "diners_club",
            CardBrand::UnionPay => "unionpay",
            CardBrand::Unknown => "unknown",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            CardBrand::Visa => "Visa",
            CardBrand::Mastercard => "Mastercard",
            CardBrand::Amex => "Amex",
            CardBrand::Discover => "Discover",
            CardBrand::Jcb => "JCB",
            CardBrand::DinersClub => "Diners Club",
            CardBrand::UnionPay => "UnionPay",
            CardBrand::Unknown => "Card",
        }
    }
}

impl fmt::Display for CardBrand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

/// The month a card expires. A card is valid through the last day of that month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CardExpiry {
    pub year: i32,
    pub month: u32,
}

impl CardExpiry {
    pub fn new(month: u32, year: i32) -> Result<CardExpiry, DomainError> {
        if !(1..=12).contains(&month) {
            return Err(DomainError::InvalidCard(format!(
                "{month} is not a month: the expiry month is 1 to 12."
            )));
        }
        if !(2000..=2099).contains(&year) {
            return Err(DomainError::InvalidCard(format!(
                "{year} is not a plausible expiry year: give the four-digit year printed on the card."
            )));
        }
        Ok(CardExpiry { year, month })
    }

    /// The first instant the card is no longer valid: midnight UTC at the start of the next month.
    pub fn expires_at(self) -> DateTime<Utc> {
        let (y, m) = if self.month == 12 {
            (self.year + 1, 1)
        } else {
            (self.year, self.month + 1)
        };
        Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0)
            .single()
            .expect("first of a month at midnight always exists in UTC")
    }

    /// The last day the card can be charged.
    pub fn last_valid_day(self) -> NaiveDate {
        self.expires_at()
            .date_naive()
            .pred_opt()
            .expect("not the first day ever")
    }

    pub fn is_expired(self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at()
    }

    /// Whole days from today until the last valid day: 0 on that day, negative once expired.
    pub fn days_until_expiry(self, now: DateTime<Utc>) -> i64 {
        (self.last_valid_day() - now.date_naive()).num_days()
    }

    /// "12/2026", as the Payment Methods table shows it.
    pub fn mm_yyyy(self) -> String {
        format!("{:02}/{}", self.month, self.year)
    }
}

impl fmt::Display for CardExpiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.mm_yyyy())
    }
}

/// A card saved for a patient with one gateway. Only the gateway's token and display metadata are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentMethod {
    pub id: PaymentMethodId,
    pub patient_id: PatientId,
    pub gateway: Gateway,
    /// The gateway's reference (Stripe `pm_…`, NMI customer vault id). Never shown to staff.
    #[serde(skip_serializing)]
    pub token: String,
    pub brand: CardBrand,
    pub last4: String,
    pub expiry: CardExpiry,
    pub cardholder_name: String,
    pub nickname: Option<String>,
    pub country: Option<String>,
    pub fingerprint: Option<String>,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub removed_at: Option<DateTime<Utc>>,
    /// Imported without brand, last four or expiry (older NMI vault records): those fields hold
    /// placeholders until the gateway's details are filled in.
    #[serde(default)]
    pub details_missing: bool,
    /// When ClinicPay last asked the card's gateway for its details (issue 23), if ever.
    #[serde(default)]
    pub checked_at: Option<DateTime<Utc>>,
    /// When ClinicPay saw the card network renew it (a new expiry or number, from the gateway).
    #[serde(default)]
    pub renewed_at: Option<DateTime<Utc>>,
}

/// What the card network changed about a saved card, as its gateway now holds it (Stripe's card
/// automatic updates, NMI's Account Updater).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkUpdate {
    pub brand: CardBrand,
    pub last4: String,
    pub expiry: CardExpiry,
    /// The issuer replaced the card's number (its last four changed).
    pub new_number: bool,
}

impl NetworkUpdate {
    /// What the gateway holds for `ours` now, when it differs from our copy (its expiry or its
    /// number): None when nothing changed.
    pub fn between(
        ours: &PaymentMethod,
        brand: CardBrand,
        last4: &str,
        expiry: CardExpiry,
    ) -> Option<NetworkUpdate> {
        let new_number = !last4.is_empty() && last4 != ours.last4;
        (new_number || expiry != ours.expiry).then(|| NetworkUpdate {
            brand: if new_number { brand } else { ours.brand },
            last4: if new_number {
                last4.to_owned()
            } else {
                ours.last4.clone()
            },
            expiry,
            new_number,
        })
    }

    /// The activity log's sentence: "Visa ••4242: the card network renewed it to 08/2030", or
    /// "Visa ••4242: the card network replaced it with ••1881, valid to 08/2030".
    pub fn describe(&self, ours: &PaymentMethod) -> String {
        let was = format!("{} ••{}", ours.brand, ours.last4);
        if self.new_number {
            format!(
                "{was}: the card network replaced it with ••{}, valid to {}",
                self.last4, self.expiry
            )
        } else {
            format!("{was}: the card network renewed it to {}", self.expiry)
        }
    }
}

impl PaymentMethod {
    /// "Visa ending in 1234", the documents' way of naming a card.
    pub fn describe(&self) -> String {
        if self.details_missing {
            return format!("{} card (brand and last four not yet loaded)", self.gateway);
        }
        format!("{} ending in {}", self.brand, self.last4)
    }

    pub fn is_active(&self) -> bool {
        self.removed_at.is_none()
    }

    /// Saved cards are gateway-specific: a Stripe card cannot be charged through NMI and vice versa.
    pub fn usable_with(&self, gateway: Gateway) -> bool {
        self.is_active() && self.gateway == gateway
    }

    /// Whether the default-card rule lets this card become the default.
    pub fn check_can_become_default(&self, now: DateTime<Utc>) -> Result<(), DomainError> {
        if !self.is_active() {
            return Err(DomainError::CardRule(format!(
                "{} was deleted and cannot become the default: add the card again.",
                self.describe()
            )));
        }
        if self.expiry.is_expired(now) {
            return Err(DomainError::CardRule(format!(
                "{} expired {} and cannot become the default: add the patient's new card and make that the default.",
                self.describe(),
                self.expiry
            )));
        }
        Ok(())
    }
}

/// Whether a newly saved card becomes the default: the first card does, later cards do not.
pub fn new_card_becomes_default(active_cards_of_patient: &[PaymentMethod]) -> bool {
    !active_cards_of_patient.iter().any(PaymentMethod::is_active)
}

/// The deletion rules of document 000, "Important Restrictions".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionCheck {
    /// Other cards remain; nothing else to confirm.
    Allowed,
    /// This is the patient's last card and staff confirmed that automatic billing may be suspended.
    AllowedLastCardConfirmed,
}

impl DeletionCheck {
    /// `cards` are the patient's active cards, including `card`.
    pub fn evaluate(
        card: &PaymentMethod,
        cards: &[PaymentMethod],
        confirm_last: bool,
    ) -> Result<DeletionCheck, DomainError> {
        if !card.is_active() {
            return Err(DomainError::CardRule(format!(
                "{} was already deleted.",
                card.describe()
            )));
        }
        let others = cards
            .iter()
            .filter(|c| c.id != card.id && c.is_active())
            .count();
        if others > 0 && card.is_default {
            return Err(DomainError::CardRule(format!(
                "{} is the default payment method and cannot be deleted while other cards exist: set a different card as default first.",
                card.describe()
            )));
        }
        if others == 0 {
            if !confirm_last {
                return Err(DomainError::CardRule(format!(
                    "{} is the patient's only payment method: services that require automatic billing may be suspended. Confirm deleting the last card to go ahead.",
                    card.describe()
                )));
            }
            return Ok(DeletionCheck::AllowedLastCardConfirmed);
        }
        Ok(DeletionCheck::Allowed)
    }
}

/// Picks the card to charge through `gateway`: the preferred one if it is compatible, otherwise the
/// default if compatible, otherwise the compatible card expiring last. Expired cards are skipped.
pub fn pick_compatible(
    cards: &[PaymentMethod],
    gateway: Gateway,
    preferred: Option<PaymentMethodId>,
    now: DateTime<Utc>,
) -> Option<&PaymentMethod> {
    let usable = |c: &&PaymentMethod| c.usable_with(gateway) && !c.expiry.is_expired(now);
    if let Some(p) = preferred {
        if let Some(c) = cards.iter().filter(usable).find(|c| c.id == p) {
            return Some(c);
        }
    }
    cards
        .iter()
        .filter(usable)
        .max_by_key(|c| (c.is_default, c.expiry, c.created_at))
}

/// What a new card must carry before it is saved. The token comes from the gateway's hosted fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCard {
    pub gateway: Gateway,
    pub token: String,
    pub brand: CardBrand,
    pub last4: String,
    pub expiry: CardExpiry,
    pub cardholder_name: String,
    pub nickname: Option<String>,
    pub country: Option<String>,
    pub fingerprint: Option<String>,
}

impl NewCard {
    /// Checks the display metadata so nothing half-formed reaches the table.
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.token.trim().is_empty() {
            return Err(DomainError::InvalidCard(
                "the card has no gateway token: enter the card again in the card form.".into(),
            ));
        }
        if self.last4.len() != 4 || !self.last4.chars().all(|c| c.is_ascii_digit()) {
            return Err(DomainError::InvalidCard(format!(
                "\"{}\" is not the last four digits of a card.",
                self.last4
            )));
        }
        if self.cardholder_name.trim().is_empty() {
            return Err(DomainError::InvalidCard(
                "the cardholder name is required: type the name on the card.".into(),
            ));
        }
        if let Some(n) = &self.nickname {
            if n.chars().count() > 40 {
                return Err(DomainError::InvalidCard(
                    "the card nickname is too long: keep it under 40 characters.".into(),
                ));
            }
        }
        if let Some(c) = &self.country {
            if c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()) {
                return Err(DomainError::InvalidCard(format!(
                    "\"{c}\" is not a country: use the two-letter code, like US or CA."
                )));
            }
        }
        Ok(())
    }
}

/// The card-number check digit (Luhn) over a string of digits: how a card number is told from other
/// digits (a token's, an id's), wherever ClinicPay must never keep or repeat one.
pub fn luhn_ok(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b.wrapping_sub(b'0'));
            if i % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// `text` with anything that reads as a card number (13 to 19 digits, spaces or dashes between them
/// allowed, passing the check digit) replaced, for text staff type that ClinicPay keeps (an escalation's
/// on-screen message): a number pasted by mistake is never stored or printed.
pub fn without_card_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            // The longest run of digits with single spaces or dashes between them.
            let mut j = i;
            let mut digits = String::new();
            let mut end = i;
            while j < chars.len() {
                if chars[j].is_ascii_digit() {
                    digits.push(chars[j]);
                    end = j + 1;
                    j += 1;
                } else if (chars[j] == ' ' || chars[j] == '-')
                    && j + 1 < chars.len()
                    && chars[j + 1].is_ascii_digit()
                {
                    j += 1;
                } else {
                    break;
                }
            }
            let hides_a_card = (13..=19).contains(&digits.len()) && luhn_ok(&digits)
                || (digits.len() > 19
                    && (0..=digits.len() - 13).any(|k| {
                        (13..=19).any(|n| k + n <= digits.len() && luhn_ok(&digits[k..k + n]))
                    }));
            if hides_a_card {
                out.push_str("[card number removed]");
            } else {
                out.extend(&chars[i..end]);
            }
            i = end;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_card_number_in_typed_text_is_removed_and_other_numbers_stay() {
        use super::without_card_numbers as clean;
        assert_eq!(
            clean("Patient read 4111 1111 1111 1111 to me"),
            "Patient read [card number removed] to me"
        );
        assert_eq!(
            clean("card 4111-1111-1111-1111."),
            "card [card number removed]."
        );
        assert_eq!(clean("4242424242424242"), "[card number removed]");
        assert_eq!(
            clean("NMI 201: Do not honor (invoice 1234, order 56, 12/2026)"),
            "NMI 201: Do not honor (invoice 1234, order 56, 12/2026)"
        );
        assert_eq!(clean("phone 555 0100 ext 22"), "phone 555 0100 ext 22");
    }

    use super::*;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
    }

    fn card(id: i64, gateway: Gateway, default: bool, exp: (u32, i32)) -> PaymentMethod {
        PaymentMethod {
            id: PaymentMethodId(id),
            patient_id: PatientId(1),
            gateway,
            token: format!("tok_{id}"),
            brand: CardBrand::Visa,
            last4: format!("{:04}", 1000 + id),
            expiry: CardExpiry::new(exp.0, exp.1).unwrap(),
            cardholder_name: "John Smith".into(),
            nickname: None,
            country: Some("US".into()),
            fingerprint: None,
            is_default: default,
            created_at: at(2024, 1, id as u32),
            removed_at: None,
            details_missing: false,
            checked_at: None,
            renewed_at: None,
        }
    }

    #[test]
    fn a_renewal_is_a_new_expiry_or_a_new_number_and_says_which() {
        let ours = card(1, Gateway::Stripe, true, (12, 2026));
        let same = NetworkUpdate::between(
            &ours,
            CardBrand::Visa,
            "1001",
            CardExpiry::new(12, 2026).unwrap(),
        );
        assert_eq!(same, None);
        let renewed = NetworkUpdate::between(
            &ours,
            CardBrand::Visa,
            "1001",
            CardExpiry::new(8, 2030).unwrap(),
        )
        .unwrap();
        assert!(!renewed.new_number);
        assert_eq!(
            renewed.describe(&ours),
            "Visa ••1001: the card network renewed it to 08/2030"
        );
        let replaced = NetworkUpdate::between(
            &ours,
            CardBrand::Mastercard,
            "1881",
            CardExpiry::new(8, 2030).unwrap(),
        )
        .unwrap();
        assert_eq!(
            replaced.describe(&ours),
            "Visa ••1001: the card network replaced it with ••1881, valid to 08/2030"
        );
    }

    #[test]
    fn the_first_card_becomes_default_and_later_cards_do_not() {
        assert!(new_card_becomes_default(&[]));
        assert!(!new_card_becomes_default(&[card(
            1,
            Gateway::Stripe,
            true,
            (12, 2030)
        )]));
        let mut removed = card(1, Gateway::Stripe, false, (12, 2030));
        removed.removed_at = Some(at(2025, 1, 1));
        assert!(new_card_becomes_default(&[removed]));
    }

    #[test]
    fn a_card_is_valid_through_the_end_of_its_expiry_month() {
        let exp = CardExpiry::new(12, 2026).unwrap();
        assert!(!exp.is_expired(Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap()));
        assert!(exp.is_expired(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()));
        assert_eq!(exp.days_until_expiry(at(2026, 12, 31)), 0);
        assert_eq!(exp.days_until_expiry(at(2026, 12, 19)), 12);
        assert_eq!(exp.days_until_expiry(at(2027, 1, 2)), -2);
        let feb = CardExpiry::new(2, 2028).unwrap();
        assert_eq!(
            feb.last_valid_day(),
            NaiveDate::from_ymd_opt(2028, 2, 29).unwrap()
        );
        assert_eq!(exp.mm_yyyy(), "12/2026");
        assert_eq!(CardExpiry::new(3, 2027).unwrap().to_string(), "03/2027");
    }

    #[test]
    fn an_impossible_expiry_is_refused() {
        assert!(CardExpiry::new(0, 2026).is_err());
        assert!(CardExpiry::new(13, 2026).is_err());
        assert!(CardExpiry::new(1, 26).is_err());
    }

    #[test]
    fn deleting_the_default_card_is_refused_while_other_cards_exist() {
        let cards = [
            card(1, Gateway::Stripe, true, (12, 2030)),
            card(2, Gateway::Stripe, false, (12, 2030)),
        ];
        let err = DeletionCheck::evaluate(&cards[0], &cards, true).unwrap_err();
        assert!(err
            .to_string()
            .contains("set a different card as default first"));
        assert_eq!(
            DeletionCheck::evaluate(&cards[1], &cards, false).unwrap(),
            DeletionCheck::Allowed
        );
    }

    #[test]
    fn deleting_the_last_card_needs_explicit_confirmation() {
        let cards = [card(1, Gateway::Nmi, true, (12, 2030))];
        let err = DeletionCheck::evaluate(&cards[0], &cards, false).unwrap_err();
        assert!(err.to_string().contains("may be suspended"), "{err}");
        assert_eq!(
            DeletionCheck::evaluate(&cards[0], &cards, true).unwrap(),
            DeletionCheck::AllowedLastCardConfirmed
        );
    }

    #[test]
    fn a_card_is_usable_only_by_its_own_gateway() {
        let stripe = card(1, Gateway::Stripe, true, (12, 2030));
        assert!(stripe.usable_with(Gateway::Stripe));
        assert!(!stripe.usable_with(Gateway::Nmi));
        let now = at(2026, 1, 1);
        let cards = [stripe.clone()];
        assert!(pick_compatible(&cards, Gateway::Nmi, Some(stripe.id), now).is_none());
    }

    #[test]
    fn the_preferred_card_is_used_when_it_matches_otherwise_the_default_then_another() {
        let now = at(2026, 1, 1);
        let cards = [
            card(1, Gateway::Stripe, true, (12, 2030)),
            card(2, Gateway::Nmi, false, (12, 2029)),
            card(3, Gateway::Nmi, false, (12, 2031)),
            card(4, Gateway::Nmi, false, (1, 2020)),
        ];
        let pick = |g, p| pick_compatible(&cards, g, p, now).map(|c| c.id.0);
        assert_eq!(pick(Gateway::Nmi, Some(PaymentMethodId(2))), Some(2));
        assert_eq!(pick(Gateway::Nmi, Some(PaymentMethodId(1))), Some(3));
        assert_eq!(
            pick(Gateway::Nmi, Some(PaymentMethodId(4))),
            Some(3),
            "expired card skipped"
        );
        assert_eq!(pick(Gateway::Stripe, None), Some(1));
    }

    #[test]
    fn an_expired_or_deleted_card_cannot_become_default() {
        let now = at(2026, 6, 1);
        assert!(card(1, Gateway::Stripe, false, (5, 2026))
            .check_can_become_default(now)
            .is_err());
        let mut gone = card(2, Gateway::Stripe, false, (5, 2030));
        gone.removed_at = Some(now);
        assert!(gone.check_can_become_default(now).is_err());
        assert!(card(3, Gateway::Stripe, false, (6, 2026))
            .check_can_become_default(now)
            .is_ok());
    }

    #[test]
    fn brands_from_either_gateway_read_the_same() {
        assert_eq!(CardBrand::from_gateway_name("visa"), CardBrand::Visa);
        assert_eq!(CardBrand::from_gateway_name("MC"), CardBrand::Mastercard);
        assert_eq!(
            CardBrand::from_gateway_name("American Express"),
            CardBrand::Amex
        );
        assert_eq!(CardBrand::from_gateway_name("???"), CardBrand::Unknown);
    }

    #[test]
    fn a_new_card_must_carry_complete_metadata() {
        let ok = NewCard {
            gateway: Gateway::Nmi,
            token: "123456".into(),
            brand: CardBrand::Visa,
            last4: "1111".into(),
            expiry: CardExpiry::new(10, 2030).unwrap(),
            cardholder_name: "Jane Doe".into(),
            nickname: Some("Work Visa".into()),
            country: Some("US".into()),
            fingerprint: None,
        };
        assert!(ok.validate().is_ok());
        for broken in [
            NewCard {
                token: " ".into(),
                ..ok.clone()
            },
            NewCard {
                last4: "11a1".into(),
                ..ok.clone()
            },
            NewCard {
                cardholder_name: "".into(),
                ..ok.clone()
            },
            NewCard {
                country: Some("USA".into()),
                ..ok.clone()
            },
            NewCard {
                nickname: Some("x".repeat(41)),
                ..ok.clone()
            },
        ] {
            assert!(broken.validate().is_err(), "{broken:?}");
        }
    }
}

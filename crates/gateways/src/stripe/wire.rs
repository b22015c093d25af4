//! The Stripe objects ClinicPay reads, as typed structs: PaymentIntent, PaymentMethod, Customer,
//! SetupIntent, Refund, list objects and the error object.
//!
//! Stripe may omit any of these fields, send `null`, or add fields of its own, so every field is
//! optional and unknown fields are ignored. A field of an unexpected JSON type reads as absent instead
//! of spoiling the whole object, and an expandable field (`"customer": "cus_…"` or the expanded
//! object) reads as its id.

use serde::de::{DeserializeOwned, Deserializer, IgnoredAny};
use serde::Deserialize;
use serde_json::Value;

/// Reads a reply (or part of one) as `T`. A bare string stands for the object with that id, as in an
/// expandable field; anything else that is not an object has none of `T`'s fields.
pub(crate) fn read<T: DeserializeOwned + Default>(v: &Value) -> T {
    match v {
        Value::Object(_) => T::deserialize(v).unwrap_or_default(),
        Value::String(id) => T::deserialize(&serde_json::json!({ "id": id })).unwrap_or_default(),
        _ => T::default(),
    }
}

/// A field of the expected type, or absent.
fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned>(d: D) -> Result<Option<T>, D::Error> {
    Ok(serde_json::from_value(Value::deserialize(d)?).ok())
}

/// A nested object, read as [`read`] reads a reply.
fn nested<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(d: D) -> Result<T, D::Error> {
    Ok(read(&Value::deserialize(d)?))
}

/// Present at all (even as `null`), then read as an object.
fn present<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(
    d: D,
) -> Result<Option<T>, D::Error> {
    nested(d).map(Some)
}

/// An expandable field's id: the string itself, or the expanded object's `id`.
fn expandable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(read::<Identified>(&Value::deserialize(d)?).id)
}

/// A list's items, each read as [`read`] reads a reply.
fn items<'de, D: Deserializer<'de>, T: DeserializeOwned + Default>(
    d: D,
) -> Result<Option<Vec<T>>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Array(items) => Some(items.iter().map(read).collect()),
        _ => None,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Identified {
    #[serde(deserialize_with = "lenient")]
    id: Option<String>,
}

/// Just enough of any reply to summarise it for the processor log.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Head {
    /// Some whenever the reply has an `error` member.
    #[serde(deserialize_with = "present")]
    pub error: Option<ApiError>,
    #[serde(deserialize_with = "lenient")]
    pub object: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub status: Option<String>,
    #[serde(deserialize_with = "items")]
    pub data: Option<Vec<IgnoredAny>>,
}

/// An error reply: `{"error": {...}}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ErrorReply {
    #[serde(deserialize_with = "nested")]
    pub error: ApiError,
}

/// Stripe's error object.
#[derive(Debug, Default, Clone, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub(crate) struct ApiError {
    /// `card_error`, `invalid_request_error`, `idempotency_error`, `api_error`…
    #[serde(rename = "type", deserialize_with = "lenient")]
    pub kind: Option<String>,
    /// `card_declined`, `resource_missing`, `amount_too_large`…
    #[serde(deserialize_with = "lenient")]
    pub code: Option<String>,
    /// The issuer's reason, for card declines: `insufficient_funds`, `generic_decline`…
    #[serde(deserialize_with = "lenient")]
    pub decline_code: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub message: Option<String>,
    /// The PaymentIntent a card error concerns (Stripe sends the object).
    #[serde(deserialize_with = "expandable")]
    pub payment_intent: Option<String>,
}

/// A list object: `{"object": "list", "data": [...], "has_more": …}`.
#[derive(Debug, Deserialize)]
#[serde(default, bound = "T: DeserializeOwned + Default")]
pub(crate) struct List<T> {
    #[serde(deserialize_with = "items")]
    pub data: Option<Vec<T>>,
    /// More items after these (ask again `starting_after` the last one).
    #[serde(deserialize_with = "lenient")]
    pub has_more: Option<bool>,
}

impl<T> Default for List<T> {
    fn default() -> Self {
        List {
            data: None,
            has_more: None,
        }
    }
}

impl<T> List<T> {
    pub fn items(&self) -> &[T] {
        self.data.as_deref().unwrap_or_default()
    }
}

/// Our keys, in a PaymentIntent's or Refund's metadata.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Metadata {
    /// [`super::PAYMENT_KEY_METADATA`]: our payment key on a PaymentIntent, refund key on a Refund.
    #[serde(rename = "clinicpay_payment", deserialize_with = "lenient")]
    pub payment_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Customer {
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PaymentIntent {
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
    /// `succeeded`, `processing`, `requires_action`, `requires_payment_method`, `canceled`…
    #[serde(deserialize_with = "lenient")]
    pub status: Option<String>,
    #[serde(deserialize_with = "nested")]
    pub last_payment_error: LastError,
    #[serde(deserialize_with = "nested")]
    pub metadata: Metadata,
    /// In the currency's minor unit.
    #[serde(deserialize_with = "lenient")]
    pub amount: Option<i64>,
    #[serde(deserialize_with = "lenient")]
    pub currency: Option<String>,
    /// Unix seconds.
    #[serde(deserialize_with = "lenient")]
    pub created: Option<i64>,
}

/// A PaymentIntent's `last_payment_error` or a SetupIntent's `last_setup_error`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct LastError {
    #[serde(deserialize_with = "lenient")]
    pub code: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub decline_code: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SetupIntent {
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub status: Option<String>,
    #[serde(deserialize_with = "expandable")]
    pub payment_method: Option<String>,
    #[serde(deserialize_with = "nested")]
    pub last_setup_error: LastError,
}

/// A Checkout Session in `mode=setup`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct CheckoutSession {
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
    /// `open`, `complete` or `expired`.
    #[serde(deserialize_with = "lenient")]
    pub status: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub url: Option<String>,
    #[serde(deserialize_with = "expandable")]
    pub customer: Option<String>,
    #[serde(deserialize_with = "expandable")]
    pub setup_intent: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub expires_at: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PaymentMethod {
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
    /// The customer it is attached to; none once detached.
    #[serde(deserialize_with = "expandable")]
    pub customer: Option<String>,
    #[serde(deserialize_with = "nested")]
    pub card: Card,
}

/// A PaymentMethod's `card`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Card {
    #[serde(deserialize_with = "lenient")]
    pub brand: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub last4: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub exp_month: Option<u64>,
    #[serde(deserialize_with = "lenient")]
    pub exp_year: Option<i64>,
    #[serde(deserialize_with = "lenient")]
    pub country: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub fingerprint: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Refund {
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
    /// `succeeded`, `pending`, `requires_action`, `failed`, `canceled`.
    #[serde(deserialize_with = "lenient")]
    pub status: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub failure_reason: Option<String>,
    #[serde(deserialize_with = "nested")]
    pub metadata: Metadata,
    #[serde(deserialize_with = "lenient")]
    pub amount: Option<i64>,
    #[serde(deserialize_with = "lenient")]
    pub currency: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub created: Option<i64>,
    /// The PaymentIntent refunded.
    #[serde(deserialize_with = "expandable")]
    pub payment_intent: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_metadata_member_is_the_one_payments_are_tagged_with() {
        let pi: PaymentIntent = read(&json!({
            "metadata": { (super::super::PAYMENT_KEY_METADATA): "pay-1", "other": 7 }
        }));
        assert_eq!(pi.metadata.payment_key.as_deref(), Some("pay-1"));
    }

    #[test]
    fn a_field_of_the_wrong_type_reads_as_absent_and_spoils_nothing_else() {
        let pm: PaymentMethod = read(&json!({
            "id": "pm_1",
            "customer": {"id": "cus_1", "object": "customer"},
            "card": {"last4": 4242, "exp_month": -1, "exp_year": 2030.0, "brand": "visa"},
        }));
        assert_eq!(pm.id.as_deref(), Some("pm_1"));
        assert_eq!(pm.customer.as_deref(), Some("cus_1"));
        assert_eq!(
            (pm.card.last4, pm.card.exp_month, pm.card.exp_year),
            (None, None, None)
        );
        assert_eq!(pm.card.brand.as_deref(), Some("visa"));
        // A nested member that is not an object has none of its fields.
        let pi: PaymentIntent = read(&json!({"last_payment_error": ["card_declined"]}));
        assert_eq!(pi.last_payment_error.code, None);
    }

    #[test]
    fn an_expandable_reads_as_its_id_and_a_bare_id_as_the_object() {
        let e: ErrorReply = read(&json!({"error": {"payment_intent": "pi_1"}}));
        assert_eq!(e.error.payment_intent.as_deref(), Some("pi_1"));
        let e: ErrorReply = read(&json!({"error": {"payment_intent": {"id": "pi_2"}}}));
        assert_eq!(e.error.payment_intent.as_deref(), Some("pi_2"));
        let c: Customer = read(&json!("cus_9"));
        assert_eq!(c.id.as_deref(), Some("cus_9"));
        let none: Customer = read(&json!(17));
        assert_eq!(none.id, None);
    }

    #[test]
    fn the_head_tells_an_error_member_even_when_null_and_counts_any_list_items() {
        let h: Head = read(&json!({"error": null}));
        assert!(h.error.is_some());
        let h: Head = read(&json!({"object": "list", "data": [1, {"id": "x"}, null]}));
        assert_eq!(h.data.map(|d| d.len()), Some(3));
        let l: List<Refund> = read(&json!({"data": [{"id": "re_1"}, "re_2", 3]}));
        let ids: Vec<Option<&str>> = l.items().iter().map(|r| r.id.as_deref()).collect();
        assert_eq!(ids, vec![Some("re_1"), Some("re_2"), None]);
    }
}

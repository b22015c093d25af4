//! Where a desk has a card typed (issue 22): in the gateway's card fields inside ClinicPay's card
//! window, or on the gateway's own hosted page in a window of its own. Decided from the window's
//! origin, as the gateways' scripts decide: live Stripe.js refuses to start on a page not served over
//! HTTPS ("Live Stripe.js integrations must use HTTPS"), and Tauri's page is `tauri://localhost` on
//! macOS and Linux, `https://tauri.localhost` on Windows. Collect.js documents no such rule
//! (`docs/hosted-fields.md`).

use serde::{Deserialize, Serialize};

use crate::Gateway;

/// How this desk takes a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum CardEntryWay {
    /// The gateway's hosted fields (Stripe Elements, NMI Collect.js) in ClinicPay's card window.
    CardFields,
    /// The gateway's own page (Stripe Checkout in setup mode) in a window of its own.
    GatewayPage,
}

/// What IT may pin for Stripe on a desk (`[desk] stripe-card-entry` in the managed configuration).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StripeCardEntry {
    /// Elements where the window's page is HTTPS (Windows), Stripe's page elsewhere.
    #[default]
    Auto,
    /// Always Stripe's page.
    Hosted,
    /// Elements everywhere Stripe.js accepts them: also off HTTPS with a test key (`pk_test_…`),
    /// never with a live one.
    Elements,
}

/// The way for `gateway` on a desk whose window's page is at `origin`, with Stripe's publishable key.
pub fn card_entry_way(
    gateway: Gateway,
    origin: &str,
    policy: StripeCardEntry,
    stripe_publishable_key: Option<&str>,
) -> CardEntryWay {
    if gateway == Gateway::Nmi {
        return CardEntryWay::CardFields;
    }
    let https = origin.starts_with("https://");
    let test_key = stripe_publishable_key.is_some_and(|k| k.starts_with("pk_test_"));
    match policy {
        StripeCardEntry::Hosted => CardEntryWay::GatewayPage,
        StripeCardEntry::Auto if https => CardEntryWay::CardFields,
        StripeCardEntry::Elements if https || test_key => CardEntryWay::CardFields,
        _ => CardEntryWay::GatewayPage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CardEntryWay::*;

    const MAC: &str = "tauri://localhost";
    const WINDOWS: &str = "https://tauri.localhost";

    #[test]
    fn stripe_elements_run_where_the_page_is_https_and_stripes_page_opens_elsewhere() {
        let way = |origin, policy, key| card_entry_way(Gateway::Stripe, origin, policy, key);
        let live = Some("pk_live_51Hclinic");
        assert_eq!(way(WINDOWS, StripeCardEntry::Auto, live), CardFields);
        assert_eq!(way(MAC, StripeCardEntry::Auto, live), GatewayPage);
        // The training clinic (a test key) sees what a live desk on this computer would.
        assert_eq!(
            way(MAC, StripeCardEntry::Auto, Some("pk_test_sim")),
            GatewayPage
        );
        // IT forces Stripe's page, even on Windows.
        assert_eq!(way(WINDOWS, StripeCardEntry::Hosted, live), GatewayPage);
        // Elements off HTTPS only where Stripe.js takes them: a test key.
        assert_eq!(
            way(MAC, StripeCardEntry::Elements, Some("pk_test_sim")),
            CardFields
        );
        assert_eq!(way(MAC, StripeCardEntry::Elements, live), GatewayPage);
        assert_eq!(
            way("http://localhost:5173", StripeCardEntry::Auto, live),
            GatewayPage
        );
    }

    #[test]
    fn nmi_uses_collect_js_on_every_platform() {
        for origin in [MAC, WINDOWS] {
            for policy in [StripeCardEntry::Auto, StripeCardEntry::Hosted] {
                assert_eq!(
                    card_entry_way(Gateway::Nmi, origin, policy, None),
                    CardFields
                );
            }
        }
    }
}

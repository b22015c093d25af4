//! The hosted card fields, at the HTTP level: what the frames send goes to the simulator, and the page
//! gets only a token (NMI) or a PaymentMethod (Stripe), as with the gateways' own scripts. The real
//! window drives the same frames in the end-to-end tests.

use clinicpay_sim::{SimConfig, Simulator};
use serde_json::Value;

async fn post(http: &reqwest::Client, url: String, form: &[(&str, &str)]) -> Value {
    let reply = http.post(url).form(form).send().await.unwrap();
    assert_eq!(
        reply
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned()),
        Some("*".to_owned()),
        "the window calls these from its own origin"
    );
    if reply.status() == reqwest::StatusCode::NO_CONTENT {
        return Value::Null;
    }
    reply.json().await.unwrap()
}

#[tokio::test]
async fn collect_js_fields_turn_what_was_typed_into_a_single_use_token_that_vaults() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let http = reqwest::Client::new();
    let base = sim.base_url();
    let script = http
        .get(format!("{base}/token/Collect.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(script.contains("CollectJS") && script.contains("startPaymentRequest"));
    let frame = http
        .get(format!("{base}/token/field?session=abc123&field=ccnumber"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(frame.contains(r#"autocomplete="cc-number""#), "{frame}");

    // A wrong number is refused by field, and the session keeps the rest for the correction.
    let field = format!("{base}/token/session/abc123/field");
    post(&http, field.clone(), &[("ccnumber", "4111111111111112")]).await;
    post(&http, field.clone(), &[("ccexp", "1230")]).await;
    post(&http, field.clone(), &[("cvv", "123")]).await;
    let tokenize = format!("{base}/token/session/abc123/tokenize");
    let refused = post(&http, tokenize.clone(), &[]).await;
    assert_eq!(refused["field"], "ccnumber");
    assert_eq!(refused["error"], "Card number is invalid");
    // A valid number that is not one of the published test cards (a patient's card typed into the
    // training desk by mistake) is refused with what to type instead.
    post(&http, field.clone(), &[("ccnumber", "4012888888881881")]).await;
    let refused = post(&http, tokenize.clone(), &[]).await;
    assert_eq!(refused["field"], "ccnumber");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("published test cards"),
        "{refused}"
    );

    post(&http, field, &[("ccnumber", "4111111111111111")]).await;
    let reply = post(&http, tokenize.clone(), &[]).await;
    let token = reply["token"].as_str().expect("a token").to_owned();
    assert_eq!(reply["card"]["number"], "411111******1111");
    assert_eq!(reply["card"]["type"], "visa");
    assert!(
        !reply.to_string().contains("4111111111111111"),
        "the page never gets the number back"
    );

    // The token vaults once; the session is gone after it was used.
    let vaulted = http
        .post(format!("{base}/api/transact.php"))
        .form(&[
            ("security_key", "k"),
            ("customer_vault", "add_customer"),
            ("payment_token", token.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(vaulted.contains("response=1"), "{vaulted}");
    let again = post(&http, tokenize, &[]).await;
    assert!(again["token"].is_null(), "{again}");
}

#[tokio::test]
async fn the_stripe_card_element_makes_a_payment_method_with_the_publishable_key_only() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let http = reqwest::Client::new();
    let base = sim.base_url();
    let script = http
        .get(format!("{base}/js.stripe.com/v3/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(script.contains("createPaymentMethod"));

    let field = format!("{base}/js.stripe.com/elements/s1/field");
    let make = format!("{base}/js.stripe.com/elements/s1/payment_method");
    post(
        &http,
        field.clone(),
        &[
            ("number", "4242424242424242"),
            ("exp", "1230"),
            ("cvc", "123"),
        ],
    )
    .await;
    let no_key = http
        .post(make.clone())
        .form(&[("key", "sk_test_secret")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 401, "a secret key never belongs in a page");

    let pm = post(
        &http,
        make.clone(),
        &[
            ("key", "pk_test_training"),
            ("billing_details[name]", "Ada Patient"),
            ("billing_details[address][country]", "CA"),
        ],
    )
    .await;
    assert!(pm["id"].as_str().unwrap().starts_with("pm_"), "{pm}");
    assert_eq!(pm["card"]["last4"], "4242");
    assert_eq!(pm["card"]["exp_month"], 12);
    assert_eq!(pm["billing_details"]["name"], "Ada Patient");

    // A past expiry is Stripe.js's own error, not a PaymentMethod.
    post(
        &http,
        field,
        &[
            ("number", "4242424242424242"),
            ("exp", "0120"),
            ("cvc", "123"),
        ],
    )
    .await;
    let refused = post(&http, make, &[("key", "pk_test_training")]).await;
    assert_eq!(refused["error"]["code"], "invalid_expiry_year");
    assert_eq!(
        refused["error"]["message"],
        "Your card's expiration year is in the past."
    );
}

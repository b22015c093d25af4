//! Stripe Checkout in `mode=setup`, as Stripe documents it (issue 22, item 5): a session with its
//! SetupIntent and hosted-page address, completed by a patient's test card (the card saved to the
//! customer), refused for a card the bank declines, expired on request, and listed by status.

use clinicpay_sim::{SimConfig, Simulator};
use serde_json::Value;

const KEY: &str = "sk_test_clinicpay_sessions";

async fn stripe(
    sim: &Simulator,
    method: reqwest::Method,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let http = reqwest::Client::new();
    let mut url = format!("{}/stripe{path}", sim.base_url());
    if method == reqwest::Method::GET && !form.is_empty() {
        url = format!("{url}?{}", serde_urlencoded::to_string(form).unwrap());
    }
    let request = http.request(method.clone(), url).bearer_auth(KEY);
    let request = if method == reqwest::Method::GET {
        request
    } else {
        request.form(form)
    };
    let reply = request.send().await.unwrap();
    (reply.status().as_u16(), reply.json().await.unwrap())
}

#[tokio::test]
async fn a_setup_session_saves_the_patients_card_to_their_customer_and_ends() {
    use reqwest::Method;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let (_, customer) = stripe(&sim, Method::POST, "/v1/customers", &[("name", "Ann Lee")]).await;
    let cus = customer["id"].as_str().unwrap();

    // mode and success_url are required; expires_at is 30 minutes to 24 hours ahead.
    let (status, e) = stripe(
        &sim,
        Method::POST,
        "/v1/checkout/sessions",
        &[("customer", cus)],
    )
    .await;
    assert_eq!(
        (status, e["error"]["message"].as_str()),
        (400, Some("Missing required param: mode."))
    );
    let (status, _) = stripe(
        &sim,
        Method::POST,
        "/v1/checkout/sessions",
        &[("mode", "setup"), ("customer", cus)],
    )
    .await;
    assert_eq!(status, 400, "no success_url");
    let soon = (chrono::Utc::now().timestamp() + 60).to_string();
    let (status, e) = stripe(
        &sim,
        Method::POST,
        "/v1/checkout/sessions",
        &[
            ("mode", "setup"),
            ("customer", cus),
            ("success_url", "https://x.example/ok"),
            ("expires_at", &soon),
        ],
    )
    .await;
    assert_eq!(status, 400, "{e}");

    let form = [
        ("mode", "setup"),
        ("customer", cus),
        ("payment_method_types[]", "card"),
        (
            "success_url",
            "https://clinicpay.invalid/done?session={CHECKOUT_SESSION_ID}",
        ),
        ("cancel_url", "https://clinicpay.invalid/cancelled"),
    ];
    let (status, session) = stripe(&sim, Method::POST, "/v1/checkout/sessions", &form).await;
    assert_eq!(status, 200, "{session}");
    let id = session["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("cs_test_"), "{id}");
    assert_eq!(
        (
            session["object"].as_str(),
            session["mode"].as_str(),
            session["status"].as_str()
        ),
        (Some("checkout.session"), Some("setup"), Some("open"))
    );
    assert!(
        session["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/stripe/checkout/{id}")),
        "{session}"
    );
    let expires = session["expires_at"].as_i64().unwrap() - session["created"].as_i64().unwrap();
    assert_eq!(expires, 24 * 3600, "24 hours by default");
    let seti = session["setup_intent"].as_str().unwrap().to_owned();

    // A card the bank declines: the page says so and the session stays open.
    let refused = sim
        .complete_checkout_setup(&id, "4000000000000002", 12, 2030)
        .unwrap_err();
    assert!(!refused.is_empty());
    let (_, still) = stripe(
        &sim,
        Method::GET,
        &format!("/v1/checkout/sessions/{id}"),
        &[],
    )
    .await;
    assert_eq!(still["status"], "open");

    // A good card: complete, its SetupIntent succeeded with a PaymentMethod attached to the customer.
    let done = sim
        .complete_checkout_setup(&id, "4242424242424242", 12, 2030)
        .unwrap();
    assert_eq!(done["status"], "complete");
    let (_, intent) = stripe(&sim, Method::GET, &format!("/v1/setup_intents/{seti}"), &[]).await;
    assert_eq!(intent["status"], "succeeded");
    let pm = intent["payment_method"].as_str().unwrap();
    let (_, card) = stripe(&sim, Method::GET, &format!("/v1/payment_methods/{pm}"), &[]).await;
    assert_eq!(card["customer"].as_str(), Some(cus));
    assert!(
        sim.complete_checkout_setup(&id, "4242424242424242", 12, 2030)
            .is_err(),
        "once only"
    );

    // Another is expired by the desk (cancel): it cannot be completed, nor expired twice.
    let (_, other) = stripe(&sim, Method::POST, "/v1/checkout/sessions", &form).await;
    let other_id = other["id"].as_str().unwrap();
    let (status, expired) = stripe(
        &sim,
        Method::POST,
        &format!("/v1/checkout/sessions/{other_id}/expire"),
        &[],
    )
    .await;
    assert_eq!((status, expired["status"].as_str()), (200, Some("expired")));
    assert!(expired["url"].is_null());
    let (status, _) = stripe(
        &sim,
        Method::POST,
        &format!("/v1/checkout/sessions/{other_id}/expire"),
        &[],
    )
    .await;
    assert_eq!(status, 400);
    assert!(sim
        .complete_checkout_setup(other_id, "4242424242424242", 12, 2030)
        .is_err());

    // Listed by status, newest first, as the engine polls open ones.
    let (_, open) = stripe(
        &sim,
        Method::GET,
        "/v1/checkout/sessions",
        &[("status", "open")],
    )
    .await;
    assert!(open["data"].as_array().unwrap().is_empty());
    let (_, complete) = stripe(
        &sim,
        Method::GET,
        "/v1/checkout/sessions",
        &[("status", "complete")],
    )
    .await;
    assert_eq!(complete["data"][0]["id"].as_str(), Some(id.as_str()));
}

#[tokio::test]
async fn the_hosted_page_takes_the_card_shows_a_decline_and_sends_the_patient_to_success_or_back() {
    use reqwest::Method;
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let (_, customer) = stripe(&sim, Method::POST, "/v1/customers", &[("name", "Ann Lee")]).await;
    let form = [
        ("mode", "setup"),
        ("customer", customer["id"].as_str().unwrap()),
        (
            "success_url",
            "https://clinicpay.invalid/setup/done?session={CHECKOUT_SESSION_ID}",
        ),
        ("cancel_url", "https://clinicpay.invalid/setup/back"),
    ];
    let (_, session) = stripe(&sim, Method::POST, "/v1/checkout/sessions", &form).await;
    let (id, url) = (
        session["id"].as_str().unwrap(),
        session["url"].as_str().unwrap(),
    );
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // The page: the card fields, and Back to the clinic's cancel address.
    let page = browser.get(url).send().await.unwrap();
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    let page = page.text().await.unwrap();
    assert!(page.contains(r#"name="cardnumber""#), "{page}");
    assert!(page.contains(r#"href="https://clinicpay.invalid/setup/back""#));

    // A number that is not a card, then a card the bank declines: shown on the page, never echoed,
    // and the session stays open.
    let typo = browser
        .post(url)
        .form(&[
            ("cardnumber", "4242424242424241"),
            ("exp", "12 / 30"),
            ("cvc", "123"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(typo.status(), 402);
    let typo = typo.text().await.unwrap();
    assert!(typo.contains("Your card number is invalid."));
    assert!(!typo.contains("4242424242424241"));
    let declined = browser
        .post(url)
        .form(&[
            ("cardnumber", "4000000000000002"),
            ("exp", "12 / 30"),
            ("cvc", "123"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(declined.contains("Your card was declined."), "{declined}");
    let (_, still) = stripe(
        &sim,
        Method::GET,
        &format!("/v1/checkout/sessions/{id}"),
        &[],
    )
    .await;
    assert_eq!(still["status"], "open");

    // A good card: to the success address with the session's id in place of the template.
    let saved = browser
        .post(url)
        .form(&[
            ("cardnumber", "4242 4242 4242 4242"),
            ("exp", "12 / 30"),
            ("cvc", "123"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 303);
    assert_eq!(
        saved.headers()["location"].to_str().unwrap(),
        format!("https://clinicpay.invalid/setup/done?session={id}")
    );
    let again = browser.get(url).send().await.unwrap().text().await.unwrap();
    assert!(again.contains("already been used"), "{again}");

    // A script (sim complete-setup) asks for JSON: the refusal in Stripe's words.
    let (_, other) = stripe(&sim, Method::POST, "/v1/checkout/sessions", &form).await;
    let refused: Value = browser
        .post(other["url"].as_str().unwrap())
        .header("accept", "application/json")
        .form(&[("cardnumber", "4000000000000002"), ("exp", "12/30")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(refused["error"]["message"], "Your card was declined.");
}

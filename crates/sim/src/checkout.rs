//! Stripe Checkout's hosted page in `mode=setup`, as the patient sees it at the session's `url`: the
//! card is typed here (on the "gateway's" origin), the session's SetupIntent is confirmed with it, and
//! the browser is sent to the session's `success_url` with `{CHECKOUT_SESSION_ID}` filled in. "Back"
//! goes to `cancel_url`. A card the bank declines is shown on the page and the session stays open, as
//! on Stripe's page; an expired or completed session shows that it can no longer be used.
//!
//! A client that asks for JSON (`Accept: application/json`, as `clinicpay sim complete-setup` does)
//! gets the session or the refusal as JSON instead of a page.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde_json::{json, Value};

use crate::cards::luhn_ok;
use crate::Shared;

/// `GET /stripe/checkout/{id}`: the hosted page, or why it cannot be used.
pub(crate) async fn page(
    State(shared): State<Arc<Mutex<Shared>>>,
    Path(id): Path<String>,
) -> Response {
    let session = shared
        .lock()
        .expect("sim state")
        .stripe
        .checkout_session(&id);
    match session {
        Some(s) if s["status"] == "open" => html(StatusCode::OK, &form_page(&s, None)),
        Some(s) => html(StatusCode::OK, &closed_page(&s)),
        None => html(
            StatusCode::NOT_FOUND,
            &message_page("Something went wrong", "This page could not be found."),
        ),
    }
}

/// `GET /stripe/checkout/thanks`: where the training clinic's secure card links send the patient
/// once their card is saved (a live clinic names a page of its own website).
pub(crate) async fn thanks() -> Response {
    html(
        StatusCode::OK,
        &message_page(
            "Thank you: your card is saved",
            "The clinic will use it for your next payment. You can close this page.",
        ),
    )
}

/// `POST /stripe/checkout/{id}`: the patient presses "Save card".
pub(crate) async fn submit(
    State(shared): State<Arc<Mutex<Shared>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    // A page that no longer takes a card says so: not the bank's refusal.
    let before = shared
        .lock()
        .expect("sim state")
        .stripe
        .checkout_session(&id);
    let closed = match &before {
        None => Some((
            StatusCode::NOT_FOUND,
            format!("No such checkout.session: '{id}'"),
        )),
        Some(s) if s["status"] != "open" => Some((
            StatusCode::CONFLICT,
            format!(
                "This Checkout Session is {}: it can no longer be completed.",
                s["status"].as_str().unwrap_or("closed")
            ),
        )),
        Some(_) => None,
    };
    if let Some((status, message)) = closed {
        return match (wants_json, before) {
            (true, _) => (
                status,
                axum::Json(json!({ "error": { "message": message } })),
            )
                .into_response(),
            (false, Some(s)) => html(StatusCode::OK, &closed_page(&s)),
            (false, None) => html(
                StatusCode::NOT_FOUND,
                &message_page("Something went wrong", "This page could not be found."),
            ),
        };
    }
    let number: String = form
        .get("cardnumber")
        .map(|n| n.chars().filter(char::is_ascii_digit).collect())
        .unwrap_or_default();
    let typed = check_typed(&number, form.get("exp").map(String::as_str).unwrap_or(""));
    let outcome = typed.and_then(|(month, year)| {
        let mut s = shared.lock().expect("sim state");
        let done = s.stripe.complete_checkout_setup(&id, &number, month, year);
        s.persist();
        done
    });
    let session = shared
        .lock()
        .expect("sim state")
        .stripe
        .checkout_session(&id);
    match (outcome, wants_json) {
        (Ok(done), true) => (StatusCode::OK, axum::Json(done)).into_response(),
        (Err(message), true) => (
            StatusCode::PAYMENT_REQUIRED,
            axum::Json(json!({ "error": { "message": message } })),
        )
            .into_response(),
        (Ok(done), false) => {
            let to = done["success_url"]
                .as_str()
                .unwrap_or_default()
                .replace("{CHECKOUT_SESSION_ID}", &id);
            Redirect::to(&to).into_response()
        }
        (Err(message), false) => match session {
            Some(s) if s["status"] == "open" => {
                html(StatusCode::PAYMENT_REQUIRED, &form_page(&s, Some(&message)))
            }
            Some(s) => html(StatusCode::OK, &closed_page(&s)),
            None => html(
                StatusCode::NOT_FOUND,
                &message_page("Something went wrong", "This page could not be found."),
            ),
        },
    }
}

/// The checks Stripe's page makes before it sends anything, in its words.
fn check_typed(number: &str, exp: &str) -> Result<(u32, i32), String> {
    if number.len() < 12 || !luhn_ok(number) {
        return Err("Your card number is invalid.".into());
    }
    let digits: String = exp.chars().filter(char::is_ascii_digit).collect();
    if digits.len() != 4 {
        return Err("Your card's expiration date is incomplete.".into());
    }
    let month: u32 = digits[..2].parse().unwrap_or(0);
    let year: i32 = 2000 + digits[2..].parse::<i32>().unwrap_or(0);
    if !(1..=12).contains(&month) {
        return Err("Your card's expiration date is invalid.".into());
    }
    use chrono::Datelike;
    let today = chrono::Utc::now().date_naive();
    if (year, month) < (today.year(), today.month()) {
        return Err("Your card's expiration year is in the past.".into());
    }
    Ok((month, year))
}

fn html(status: StatusCode, body: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // As Stripe's page: never framed by another site.
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        body.to_owned(),
    )
        .into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

const STYLE: &str = r#"<style>
html,body{margin:0;background:#f6f9fc;font:15px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1f36}
main{max-width:420px;margin:40px auto;padding:28px;background:#fff;border-radius:8px;box-shadow:0 2px 8px rgba(0,0,0,.08)}
h1{font-size:20px;margin:0 0 6px}
p{margin:0 0 16px;color:#4f566b}
label{display:block;font-size:13px;margin:12px 0 4px;color:#3c4257}
input{box-sizing:border-box;width:100%;padding:10px;border:1px solid #cfd7df;border-radius:6px;font:inherit}
input:focus{outline:2px solid #635bff;outline-offset:1px}
.row{display:flex;gap:12px}.row>div{flex:1}
button{margin-top:20px;width:100%;padding:12px;border:0;border-radius:6px;background:#635bff;color:#fff;font:600 15px system-ui,sans-serif;cursor:pointer}
.error{color:#df1b41;margin:14px 0 0}
.back{display:inline-block;margin-bottom:18px;color:#635bff;text-decoration:none}
.test{display:inline-block;font-size:11px;font-weight:600;background:#ffde92;color:#663c00;border-radius:4px;padding:2px 6px;margin-left:6px;vertical-align:middle}
</style>"#;

fn form_page(session: &Value, error: Option<&str>) -> String {
    let id = escape(session["id"].as_str().unwrap_or_default());
    let back = match session["cancel_url"].as_str() {
        Some(url) => format!(
            r#"<a class="back" href="{}" data-testid="checkout-back">&larr; Back</a>"#,
            escape(url)
        ),
        None => String::new(),
    };
    let error = match error {
        Some(e) => format!(
            r#"<p class="error" role="alert" data-testid="checkout-error">{}</p>"#,
            escape(e)
        ),
        None => String::new(),
    };
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Set up a payment method</title>{STYLE}</head>
<body><main>{back}
<h1>Set up a payment method <span class="test">TEST MODE</span></h1>
<p>Your card is saved for future payments. You will not be charged now.</p>
<form method="post" action="/stripe/checkout/{id}" autocomplete="on">
<label for="cardnumber">Card number</label>
<input id="cardnumber" name="cardnumber" inputmode="numeric" autocomplete="cc-number" placeholder="1234 1234 1234 1234" maxlength="23" required data-testid="checkout-card-number">
<div class="row"><div><label for="exp">Expiration (MM / YY)</label>
<input id="exp" name="exp" inputmode="numeric" autocomplete="cc-exp" placeholder="MM / YY" maxlength="7" required data-testid="checkout-exp"></div>
<div><label for="cvc">CVC</label>
<input id="cvc" name="cvc" inputmode="numeric" autocomplete="cc-csc" placeholder="CVC" maxlength="4" required data-testid="checkout-cvc"></div></div>
<label for="name">Cardholder name</label>
<input id="name" name="name" autocomplete="cc-name" data-testid="checkout-name">
<button type="submit" data-testid="checkout-submit">Save card</button>
{error}
</form></main></body></html>"#
    )
}

fn closed_page(session: &Value) -> String {
    match session["status"].as_str() {
        Some("complete") => message_page(
            "Your card is saved",
            "This page has already been used to save a card. You can close it.",
        ),
        _ => message_page(
            "This link has expired",
            "Ask the clinic for a new link to save your card.",
        ),
    }
}

fn message_page(title: &str, text: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>{STYLE}</head>
<body><main><h1 data-testid="checkout-closed">{title}</h1><p>{text}</p></main></body></html>"#,
        title = escape(title),
        text = escape(text)
    )
}

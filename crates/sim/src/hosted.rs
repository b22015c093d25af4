//! Hosted card fields, as the gateways serve them to a page: a stand-in for NMI's Collect.js (inline
//! fields) and one for Stripe.js's card Element. The card inputs live in frames served from the
//! simulator's own origin and send what is typed straight to the simulator, so the page that embeds
//! them (ClinicPay's window) only ever receives a token, exactly as with the real gateways.
//!
//! Between the page and its frames: the page script asks each frame to `flush` (send its value to the
//! simulator) and waits for `flushed`, then asks the simulator for the token; frames report `change`
//! (empty / complete) so the page can enable its Save button.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::json;

use crate::cards::{brand_of, luhn_ok};
use crate::Shared;

/// What a session's frames have sent: field name → value.
pub(crate) type Typed = HashMap<String, String>;

/// Sessions older than this many are dropped, oldest first (a window left open all day).
const MAX_SESSIONS: usize = 256;

const COLLECT_SCRIPT: &str = r#"// ClinicPay simulator: a stand-in for NMI Collect.js inline fields (training mode and tests only).
(function () {
  var me = document.currentScript;
  var base = (me && me.src || "").replace(/\/token\/Collect\.js.*$/, "");
  var session = Math.random().toString(36).slice(2) + Date.now().toString(36);
  var frames = {};
  var pending = {};
  var seq = 0;
  var ready = {};
  var titles = { ccnumber: "Card number", ccexp: "Expiry date (MM/YY)", cvv: "Security code (CVV)" };
  window.addEventListener("message", function (e) {
    var d = e.data || {};
    if (e.origin !== base || d.clinicpaySim === undefined) return;
    if (d.clinicpaySim === "flushed" && pending[d.id]) { pending[d.id](); delete pending[d.id]; }
    var cfg = window.CollectJS.config;
    // The frame's state, on the frame element, as the real Collect.js marks its fields.
    if (frames[d.field] && d.clinicpaySim === "change") frames[d.field].setAttribute("data-complete", d.complete ? "true" : "false");
    if (frames[d.field] && d.clinicpaySim === "ready") frames[d.field].setAttribute("data-ready", "true");
    if (d.clinicpaySim === "change" && cfg.validationCallback) {
      cfg.validationCallback(d.field, d.complete, d.complete ? "Success" : d.message || "");
    }
    if (d.clinicpaySim === "ready") {
      ready[d.field] = true;
      var all = Object.keys(frames).every(function (n) { return ready[n]; });
      if (all && cfg.fieldsAvailableCallback) cfg.fieldsAvailableCallback();
    }
  });
  function flush(name) {
    return new Promise(function (resolve) {
      var id = ++seq;
      pending[id] = resolve;
      frames[name].contentWindow.postMessage({ clinicpaySim: "flush", id: id }, base);
    });
  }
  window.CollectJS = {
    config: {},
    tokenizationKey: me && me.getAttribute("data-tokenization-key"),
    configure: function (config) {
      this.config = config || {};
      var fields = this.config.fields || {};
      Object.keys(titles).forEach(function (name) {
        var f = fields[name];
        var host = f && document.querySelector(f.selector);
        if (!host) return;
        host.innerHTML = "";
        var frame = document.createElement("iframe");
        frame.src = base + "/token/field?session=" + session + "&field=" + name +
          "&placeholder=" + encodeURIComponent(f.placeholder || "");
        frame.title = f.title || titles[name];
        frame.setAttribute("data-collect-field", name);
        frame.style.cssText = "border:0;width:100%;height:40px;display:block";
        host.appendChild(frame);
        frames[name] = frame;
      });
    },
    startPaymentRequest: function () {
      var cfg = this.config;
      var names = Object.keys(frames);
      Promise.all(names.map(flush))
        .then(function () {
          return fetch(base + "/token/session/" + session + "/tokenize", { method: "POST" });
        })
        .then(function (r) { return r.json(); })
        .then(function (reply) {
          if (reply.token) {
            if (cfg.callback) cfg.callback(reply);
          } else if (cfg.validationCallback) {
            cfg.validationCallback(reply.field || "ccnumber", false, reply.error);
          }
        })
        .catch(function (e) {
          if (cfg.timeoutCallback) cfg.timeoutCallback(e);
        });
    },
    clearInputs: function () {
      Object.keys(frames).forEach(function (n) { frames[n].contentWindow.postMessage({ clinicpaySim: "clear" }, base); });
    }
  };
})();
"#;

const STRIPE_SCRIPT: &str = r#"// ClinicPay simulator: a stand-in for Stripe.js v3's card Element (training mode and tests only).
(function () {
  var me = document.currentScript;
  var base = (me && me.src || "").replace(/\/js\.stripe\.com\/v3\/?.*$/, "");
  var seq = 0;
  var pending = {};
  var listeners = {};
  window.addEventListener("message", function (e) {
    var d = e.data || {};
    if (e.origin !== base || d.clinicpaySim === undefined) return;
    if (d.clinicpaySim === "flushed" && pending[d.id]) { pending[d.id](); delete pending[d.id]; }
    if (d.clinicpaySim === "change" && listeners[d.session]) {
      (listeners[d.session].change || []).forEach(function (cb) {
        cb({ elementType: "card", empty: d.empty, complete: d.complete,
             error: d.message ? { type: "validation_error", message: d.message } : undefined,
             brand: d.brand || "unknown" });
      });
    }
    if (d.clinicpaySim === "ready" && listeners[d.session]) {
      (listeners[d.session].ready || []).forEach(function (cb) { cb({ elementType: "card" }); });
    }
  });
  function Element(type) {
    this.session = Math.random().toString(36).slice(2) + Date.now().toString(36);
    this.type = type;
    listeners[this.session] = {};
  }
  Element.prototype.mount = function (target) {
    var host = typeof target === "string" ? document.querySelector(target) : target;
    host.innerHTML = "";
    var frame = document.createElement("iframe");
    frame.src = base + "/js.stripe.com/elements/card?session=" + this.session;
    frame.title = "Secure card payment input frame";
    frame.style.cssText = "border:0;width:100%;height:44px;display:block";
    host.appendChild(frame);
    this.frame = frame;
  };
  Element.prototype.on = function (event, cb) {
    (listeners[this.session][event] = listeners[this.session][event] || []).push(cb);
  };
  Element.prototype.focus = function () { if (this.frame) this.frame.contentWindow.postMessage({ clinicpaySim: "focus" }, base); };
  Element.prototype.clear = function () { if (this.frame) this.frame.contentWindow.postMessage({ clinicpaySim: "clear" }, base); };
  Element.prototype.unmount = function () { if (this.frame) this.frame.remove(); };
  Element.prototype.destroy = Element.prototype.unmount;
  Element.prototype.flush = function () {
    var frame = this.frame;
    return new Promise(function (resolve) {
      var id = ++seq;
      pending[id] = resolve;
      frame.contentWindow.postMessage({ clinicpaySim: "flush", id: id }, base);
    });
  };
  window.Stripe = function (key) {
    return {
      elements: function () { return { create: function (type) { return new Element(type); } }; },
      createPaymentMethod: function (params) {
        var el = params.card || (params.elements && params.elements._card);
        var body = new URLSearchParams({ key: key, type: params.type || "card" });
        var bd = params.billing_details || {};
        if (bd.name) body.set("billing_details[name]", bd.name);
        if (bd.email) body.set("billing_details[email]", bd.email);
        if (bd.address && bd.address.country) body.set("billing_details[address][country]", bd.address.country);
        return el.flush()
          .then(function () { return fetch(base + "/js.stripe.com/elements/" + el.session + "/payment_method", { method: "POST", body: body }); })
          .then(function (r) { return r.json(); })
          .then(function (reply) { return reply.error ? { error: reply.error } : { paymentMethod: reply }; });
      }
    };
  };
})();
"#;

/// One frame's page. `inputs` are (name, label, placeholder, autocomplete, max length).
fn frame_page(session: &str, inputs: &[(&str, &str, &str, &str, u32)], report_as: &str) -> String {
    let fields = inputs
        .iter()
        .map(|(name, label, placeholder, autocomplete, max)| {
            format!(
                r#"<input name="{name}" aria-label="{label}" placeholder="{placeholder}" autocomplete="{autocomplete}" inputmode="numeric" maxlength="{max}" spellcheck="false">"#
            )
        })
        .collect::<String>();
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Card details</title>
<style>
html,body{{margin:0;padding:0;background:transparent;font:15px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2933}}
form{{display:flex;gap:8px}}
input{{flex:1 1 0;min-width:0;box-sizing:border-box;height:38px;padding:0 10px;border:1px solid #9aa5b1;border-radius:6px;font:inherit;background:#fff;color:inherit}}
input[name=number],input[name=ccnumber]{{flex:3 1 0}}
input:focus{{outline:2px solid #2458c6;outline-offset:1px;border-color:#2458c6}}
input[aria-invalid=true]{{border-color:#b42318}}
</style></head><body><form onsubmit="return false">{fields}</form>
<script>
(function () {{
  var session = {session:?}, base = location.origin, parentOrigin = "*";
  var inputs = Array.prototype.slice.call(document.querySelectorAll("input"));
  function digits(v) {{ return v.replace(/\D/g, ""); }}
  function luhn(n) {{
    var s = 0, alt = false;
    for (var i = n.length - 1; i >= 0; i--) {{ var d = +n[i]; if (alt) {{ d *= 2; if (d > 9) d -= 9; }} s += d; alt = !alt; }}
    return n.length >= 12 && s % 10 === 0;
  }}
  function check(input) {{
    var v = digits(input.value);
    if (!v) return "";
    if (/number/.test(input.name)) return luhn(v) ? "" : "Your card number is incomplete or incorrect.";
    if (/exp/.test(input.name)) return v.length === 4 && +v.slice(0, 2) >= 1 && +v.slice(0, 2) <= 12 ? "" : "Your card's expiration date is incomplete.";
    return v.length >= 3 ? "" : "Your card's security code is incomplete.";
  }}
  function report() {{
    var message = "", complete = true, empty = true;
    inputs.forEach(function (i) {{
      var m = check(i);
      i.setAttribute("aria-invalid", m ? "true" : "false");
      if (m && !message) message = m;
      if (!digits(i.value) || m) complete = false;
      if (digits(i.value)) empty = false;
    }});
    parent.postMessage({{ clinicpaySim: "change", session: session, field: {report_as:?}, complete: complete, empty: empty, message: message }}, parentOrigin);
  }}
  inputs.forEach(function (i) {{
    i.addEventListener("input", function () {{
      if (/exp/.test(i.name)) {{ var v = digits(i.value).slice(0, 4); i.value = v.length > 2 ? v.slice(0, 2) + "/" + v.slice(2) : v; }}
      else if (/number/.test(i.name)) {{ i.value = digits(i.value).slice(0, 19).replace(/(\d{{4}})(?=\d)/g, "$1 "); }}
      else {{ i.value = digits(i.value).slice(0, 4); }}
      report();
    }});
  }});
  window.addEventListener("message", function (e) {{
    var d = e.data || {{}};
    if (d.clinicpaySim === "flush") {{
      var body = new URLSearchParams();
      inputs.forEach(function (i) {{ body.set(i.name, digits(i.value)); }});
      fetch(location.pathname.replace(/\/(field|card)$/, "") + "/" + (location.pathname.indexOf("/token/") === 0 ? "session/" : "") + session + "/field", {{ method: "POST", body: body }})
        .then(function () {{ e.source.postMessage({{ clinicpaySim: "flushed", id: d.id }}, e.origin); }},
              function () {{ e.source.postMessage({{ clinicpaySim: "flushed", id: d.id }}, e.origin); }});
    }}
    if (d.clinicpaySim === "clear") {{ inputs.forEach(function (i) {{ i.value = ""; }}); report(); }}
    if (d.clinicpaySim === "focus") {{ inputs[0].focus(); }}
  }});
  parent.postMessage({{ clinicpaySim: "ready", session: session, field: {report_as:?}, ready: true }}, parentOrigin);
}})();
</script></body></html>"#
    )
}

fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

fn script(body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "application/javascript")], body).into_response()
}

/// The page that embeds the fields calls these from its own origin (ClinicPay's window), as it calls
/// the real gateways' endpoints.
fn cors(mut r: Response) -> Response {
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

#[derive(Deserialize)]
pub(crate) struct FrameQuery {
    session: String,
    #[serde(default)]
    field: String,
    #[serde(default)]
    placeholder: String,
}

fn session_ok(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric())
}

pub(crate) async fn collect_script() -> Response {
    script(COLLECT_SCRIPT)
}

pub(crate) async fn stripe_script() -> Response {
    script(STRIPE_SCRIPT)
}

pub(crate) async fn collect_field(Query(q): Query<FrameQuery>) -> Response {
    let (label, placeholder, autocomplete, max) = match q.field.as_str() {
        "ccnumber" => ("Card number", "1234 1234 1234 1234", "cc-number", 23),
        "ccexp" => ("Expiry date (MM/YY)", "MM / YY", "cc-exp", 5),
        "cvv" => ("Security code (CVV)", "CVV", "cc-csc", 4),
        _ => return (StatusCode::NOT_FOUND, "no such field").into_response(),
    };
    if !session_ok(&q.session) {
        return (StatusCode::BAD_REQUEST, "bad session").into_response();
    }
    let placeholder = if q.placeholder.is_empty() {
        placeholder.to_owned()
    } else {
        q.placeholder.replace(['"', '<', '>', '&'], "")
    };
    html(frame_page(
        &q.session,
        &[(&q.field, label, &placeholder, autocomplete, max)],
        &q.field,
    ))
}

pub(crate) async fn stripe_card_frame(Query(q): Query<FrameQuery>) -> Response {
    if !session_ok(&q.session) {
        return (StatusCode::BAD_REQUEST, "bad session").into_response();
    }
    html(frame_page(
        &q.session,
        &[
            (
                "number",
                "Card number",
                "1234 1234 1234 1234",
                "cc-number",
                23,
            ),
            ("exp", "Expiration date MM / YY", "MM / YY", "cc-exp", 5),
            ("cvc", "CVC", "CVC", "cc-csc", 4),
        ],
        "card",
    ))
}

/// A frame's values, kept under its session until the token is made.
pub(crate) async fn field_values(
    State(shared): State<Arc<Mutex<Shared>>>,
    Path(session): Path<String>,
    Form(values): Form<HashMap<String, String>>,
) -> Response {
    if !session_ok(&session) {
        return cors((StatusCode::BAD_REQUEST, "bad session").into_response());
    }
    let mut s = shared.lock().expect("sim state");
    if s.hosted.len() >= MAX_SESSIONS && !s.hosted.contains_key(&session) {
        s.hosted.clear();
    }
    s.hosted.entry(session).or_default().extend(values);
    cors(StatusCode::NO_CONTENT.into_response())
}

/// Collect.js's answer: a single-use token and the masked card, or which field is wrong.
pub(crate) async fn collect_tokenize(
    State(shared): State<Arc<Mutex<Shared>>>,
    Path(session): Path<String>,
) -> Response {
    let mut s = shared.lock().expect("sim state");
    let typed = s.hosted.remove(&session).unwrap_or_default();
    let get = |k: &str| typed.get(k).cloned().unwrap_or_default();
    let (number, exp) = (get("ccnumber"), get("ccexp"));
    let refusal = if !luhn_ok(&number) {
        Some(("ccnumber", "Card number is invalid"))
    } else if !crate::cards::is_published_test_card(&number) {
        Some(("ccnumber", crate::cards::NOT_A_TEST_CARD))
    } else if exp.len() != 4 || !matches!(exp[..2].parse::<u32>(), Ok(1..=12)) {
        Some(("ccexp", "Expiration date is invalid"))
    } else if typed.contains_key("cvv") && !(3..=4).contains(&get("cvv").len()) {
        Some(("cvv", "CVV is invalid"))
    } else {
        None
    };
    if let Some((field, message)) = refusal {
        // Keep what was typed, so the person can correct one field and try again.
        s.hosted.insert(session, typed.clone());
        return cors(axum::Json(json!({"error": message, "field": field})).into_response());
    }
    let token = s.nmi.tokenize(&number, &exp);
    cors(
        axum::Json(json!({
            "token": token,
            "card": {
                "number": format!("{}{}{}", &number[..6], "*".repeat(number.len() - 10), &number[number.len() - 4..]),
                "bin": &number[..6],
                "exp": exp,
                "type": brand_of(&number),
                "hash": "",
            },
            "tokenType": "inline",
        }))
        .into_response(),
    )
}

/// `stripe.createPaymentMethod({type: "card", card})`: the PaymentMethod, or Stripe.js's `error`.
pub(crate) async fn stripe_payment_method(
    State(shared): State<Arc<Mutex<Shared>>>,
    Path(session): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let mut s = shared.lock().expect("sim state");
    if !form.get("key").is_some_and(|k| k.starts_with("pk_")) {
        return cors(
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided."}})),
            )
                .into_response(),
        );
    }
    let typed = s.hosted.remove(&session).unwrap_or_default();
    let exp = typed.get("exp").cloned().unwrap_or_default();
    let mut fields: HashMap<String, String> = HashMap::new();
    fields.insert("type".into(), "card".into());
    fields.insert(
        "card[number]".into(),
        typed.get("number").cloned().unwrap_or_default(),
    );
    fields.insert("card[exp_month]".into(), exp.get(..2).unwrap_or("").into());
    fields.insert("card[exp_year]".into(), exp.get(2..).unwrap_or("").into());
    for (k, v) in &form {
        if k.starts_with("billing_details[") {
            fields.insert(k.clone(), v.clone());
        }
    }
    let (status, answer) = s.stripe.create_payment_method_from(&fields);
    if !status.is_success() {
        s.hosted.insert(session, typed);
        let e = &answer["error"];
        return cors(
            axum::Json(json!({"error": {
                "type": e["type"], "code": e["code"], "message": e["message"],
            }}))
            .into_response(),
        );
    }
    cors(axum::Json(answer).into_response())
}

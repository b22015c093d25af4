//! The window's Content Security Policy: the gateways' hosted fields may load, nothing else may, and a
//! training window can reach only its own simulator.

use clinicpay_desktop::content_security_policy;

fn directive<'a>(csp: &'a str, name: &str) -> Vec<&'a str> {
    csp.split(';')
        .map(str::trim)
        .find_map(|d| {
            d.strip_prefix(name)
                .map(|rest| rest.split_whitespace().collect())
        })
        .unwrap_or_else(|| panic!("no {name} in {csp}"))
}

#[test]
fn live_mode_opens_only_stripe_js_and_collect_js_and_their_api_origins() {
    let csp = content_security_policy(None);
    let scripts = directive(&csp, "script-src");
    assert!(
        scripts.contains(&"https://js.stripe.com") && scripts.contains(&"https://secure.nmi.com")
    );
    assert!(
        !scripts.contains(&"'unsafe-inline'")
            && !scripts.contains(&"'unsafe-eval'")
            && !scripts.contains(&"*")
    );
    let frames = directive(&csp, "frame-src");
    assert!(
        frames.contains(&"https://js.stripe.com") && frames.contains(&"https://secure.nmi.com")
    );
    let connect = directive(&csp, "connect-src");
    assert!(connect.contains(&"https://api.stripe.com") && connect.contains(&"ipc:"));
    assert!(
        !csp.contains("127.0.0.1"),
        "no local simulator in live mode: {csp}"
    );
    assert_eq!(directive(&csp, "object-src"), ["'none'"]);
    assert_eq!(directive(&csp, "frame-ancestors"), ["'none'"]);
}

#[test]
fn training_mode_opens_only_the_apps_own_simulator_and_no_real_gateway() {
    let csp = content_security_policy(Some("http://127.0.0.1:41234"));
    for d in ["script-src", "frame-src", "connect-src"] {
        assert!(
            directive(&csp, d).contains(&"http://127.0.0.1:41234"),
            "{d}: {csp}"
        );
    }
    assert!(
        !csp.contains("stripe.com") && !csp.contains("nmi.com"),
        "{csp}"
    );
}

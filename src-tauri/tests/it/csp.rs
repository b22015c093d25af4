//! The windows' Content Security Policies: the desk window loads ClinicPay's own files and nothing
//! else; the card window may load the gateways' hosted fields, and in training only the app's own
//! simulator.

use clinicpay_desktop::{card_window_csp, desk_page_meta_csp, main_window_csp};

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
fn the_desk_window_runs_no_third_party_script_or_frame() {
    let csp = main_window_csp();
    assert_eq!(directive(&csp, "script-src"), ["'self'"]);
    assert_eq!(directive(&csp, "frame-src"), ["'none'"]);
    assert_eq!(directive(&csp, "worker-src"), ["'none'"]);
    for other in ["stripe.com", "nmi.com", "127.0.0.1", "https:"] {
        assert!(!csp.contains(other), "{other} in {csp}");
    }
    assert_eq!(directive(&csp, "object-src"), ["'none'"]);
    assert_eq!(directive(&csp, "frame-ancestors"), ["'none'"]);
}

#[test]
fn the_card_window_opens_only_stripe_js_and_collect_js_and_their_api_origins() {
    // As Tauri serves the page: the desk window's policy with a hash of its own added.
    let served = main_window_csp().replace("script-src 'self'", "script-src 'self' 'sha256-abc='");
    let csp = card_window_csp(&served, None);
    let scripts = directive(&csp, "script-src");
    assert!(
        scripts.contains(&"https://js.stripe.com") && scripts.contains(&"https://secure.nmi.com")
    );
    assert!(
        scripts.contains(&"'sha256-abc='"),
        "Tauri's hashes stay: {csp}"
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
    assert!(!frames.contains(&"'none'"), "'none' stands alone: {csp}");
    let connect = directive(&csp, "connect-src");
    assert!(connect.contains(&"https://api.stripe.com") && connect.contains(&"ipc:"));
    assert!(
        !csp.contains("127.0.0.1"),
        "no local simulator in live mode: {csp}"
    );
    assert_eq!(directive(&csp, "object-src"), ["'none'"]);
    assert_eq!(directive(&csp, "worker-src"), ["'none'"]);
}

#[test]
fn a_training_card_window_opens_only_the_apps_own_simulator_and_no_real_gateway() {
    let csp = card_window_csp(&main_window_csp(), Some("http://127.0.0.1:41234"));
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

#[test]
fn the_desk_windows_page_carries_its_own_policy() {
    // The build adds it as a <meta>; the string there is the one this crate defines.
    let vite =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../ui/vite.config.ts"))
            .unwrap();
    let meta = desk_page_meta_csp();
    assert!(
        vite.contains(&format!("const DESK_WINDOW_CSP = \"{meta}\";")),
        "ui/vite.config.ts must carry {meta}"
    );
    assert_eq!(directive(&meta, "script-src"), ["'self'"]);
    assert!(!meta.contains("frame-ancestors"), "ignored in a <meta>");
    // The built page carries it (scripts/test.sh builds the window before the tests).
    let built = concat!(env!("CARGO_MANIFEST_DIR"), "/../ui/dist/index.html");
    let html = std::fs::read_to_string(built).unwrap_or_else(|e| {
        panic!("{built} cannot be read ({e}): build the window first (cd ui && npm run build; scripts/test.sh does)")
    });
    assert!(
        html.contains(&meta),
        "{built} lacks the desk window's policy"
    );
    let card = std::fs::read_to_string(built.replace("index.html", "card-form.html")).unwrap();
    assert!(
        !card.contains("Content-Security-Policy"),
        "the card window lives by the header"
    );
}

//! `clinicpay-bench`: measures what the front desk waits for and prints the figures. It is a program,
//! not a test: speed is reported, never asserted.
//!
//!   clinicpay-bench search [--db URL] [--patients 200000]
//!   clinicpay-bench gateways [--calls 1000]
//!   clinicpay-bench propagation [--changes 1000] [--db postgres://…]
//!
//! Seeds the demo clinic with N patients into an empty database (timing it), then times patient search
//! as the services answer it and as a `clinicpay patients search` process answers it end to end.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clinicpay_domain::SystemClock;
use clinicpay_services::Services;
use clinicpay_store::{billing, Store};

const QUERIES: &[&str] = &[
    "s",
    "sm",
    "smi",
    "smith",
    "john",
    "jo sm",
    "maria gar",
    "o'b",
    "zz",
    "555",
    "555 12",
    "emma.",
    "billing1",
];

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let mode = args.get(1).cloned().unwrap_or_default();
    match mode.as_str() {
        "search" | "expiring" => {}
        "gateways" => {
            let calls = arg("--calls").and_then(|c| c.parse().ok()).unwrap_or(1000);
            gateways(calls).await;
            return stripe_gateway(calls).await;
        }
        "report" => {
            let payments = arg("--payments")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1_000_000);
            return report(payments, arg("--db")).await;
        }
        "propagation" => {
            let changes = arg("--changes")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1000);
            return propagation(changes, arg("--db")).await;
        }
        "sweep" => {
            let orders = arg("--orders")
                .and_then(|c| c.parse().ok())
                .unwrap_or(10_000);
            let rate = arg("--rate").and_then(|c| c.parse().ok()).unwrap_or(100);
            let workers = arg("--workers").and_then(|c| c.parse().ok()).unwrap_or(1);
            return sweep(orders, rate, workers, arg("--db")).await;
        }
        _ => {
            eprintln!(
                "usage: clinicpay-bench search|expiring [--db URL] [--patients N] | report [--payments N] [--db URL] | gateways [--calls N] | sweep [--orders N] [--rate PER_SECOND] [--workers N] [--db URL] | propagation [--changes N] [--db postgres://…]"
            );
            std::process::exit(2);
        }
    }
    let patients: u32 = arg("--patients")
        .and_then(|p| p.parse().ok())
        .unwrap_or(200_000);
    let db = arg("--db").unwrap_or_else(|| {
        std::env::temp_dir()
            .join(format!("clinicpay-bench-{patients}.db"))
            .display()
            .to_string()
    });
    let store = match Store::open(&db).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot open {db}: {e}");
            std::process::exit(5);
        }
    };
    let s = Services::new(store.clone(), Arc::new(SystemClock));
    let existing = billing::clinic_counts(&mut store.reader().await.expect("reader"))
        .await
        .expect("counts")
        .patients;
    println!("database: {}", clinicpay_store::redact_url(&db));
    if existing == 0 {
        let t = Instant::now();
        let r = s.seed_demo(None, patients, 1).await.expect("seed");
        let took = t.elapsed();
        println!(
            "seed: {} patients, {} cards, {} invoices, {} payments in {:.1} s ({:.0} patients/s)",
            r.patients,
            r.cards,
            r.invoices,
            r.payments,
            took.as_secs_f64(),
            r.patients as f64 / took.as_secs_f64()
        );
    } else {
        println!("seed: reusing {existing} patients already in the database");
    }
    let desk = s.actor_by_username("frontdesk").await.expect("demo staff");
    if mode == "expiring" {
        return expiring(&s, &desk).await;
    }

    println!("\npatient search through the services (30 runs each, after one warm-up):");
    println!(
        "{:<12} {:>8} {:>10} {:>10} {:>10}",
        "query", "results", "p50", "p95", "max"
    );
    let mut all = Vec::new();
    for q in QUERIES {
        let results = s.search_patients(&desk, q).await.expect("search").len();
        let mut times = Vec::new();
        for _ in 0..30 {
            let t = Instant::now();
            s.search_patients(&desk, q).await.expect("search");
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "{:<12} {:>8} {:>10} {:>10} {:>10}",
            format!("{q:?}"),
            results,
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95)),
            ms(*times.last().unwrap())
        );
        all.extend(times);
    }
    all.sort();
    println!(
        "all queries: p50 {} · p95 {} · max {}",
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.95)),
        ms(*all.last().unwrap())
    );

    let cli = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("clinicpay")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("clinicpay"));
    println!("\n`clinicpay patients search` as a whole process (start, open, migrate check, search, print; 10 runs):");
    for q in ["smi", "jo sm", "555 12"] {
        let mut times = Vec::new();
        for _ in 0..10 {
            let t = Instant::now();
            let out = Command::new(&cli)
                .args([
                    "--db",
                    &db,
                    "--as",
                    "frontdesk",
                    "--json",
                    "patients",
                    "search",
                    q,
                ])
                .output()
                .expect("run clinicpay");
            times.push(t.elapsed());
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        times.sort();
        println!(
            "{:<12} p50 {} · max {}",
            format!("{q:?}"),
            ms(percentile(&times, 0.5)),
            ms(*times.last().unwrap())
        );
    }
    store.close().await;
}

/// What the NMI client adds over the simulator's own answer time: the same requests sent raw with
/// reqwest, then through the client (form building, reply parsing, outcome mapping, redaction, log entry).
async fn gateways(calls: usize) {
    use clinicpay_domain::{Currency, Money};
    use clinicpay_gateways::nmi::NmiClient;
    use clinicpay_gateways::{
        CardHolder, ChargeRequest, MemoryLog, PaymentGateway, Secret, DEFAULT_TIMEOUT,
    };
    use clinicpay_sim::{SimConfig, Simulator};

    let key = "bench-key";
    let sim = Simulator::start(SimConfig {
        nmi_security_key: Some(key.into()),
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let client = NmiClient::new(
        Some(&sim.base_url()),
        Secret::new(key),
        Arc::new(MemoryLog::default()),
        DEFAULT_TIMEOUT,
    );
    let token = sim.payment_token("4111111111111111", "1230");
    let card = client
        .save_card(
            &CardHolder {
                name: "Bench Mark".into(),
                email: "bench@example.com".into(),
                patient_ref: "1".into(),
                customer: None,
            },
            &token,
        )
        .await
        .expect("save card");
    let raw = reqwest::Client::new();
    let transact = format!("{}/api/transact.php", sim.base_url());
    let query = format!("{}/api/query.php", sim.base_url());

    let mut raw_sale = Vec::with_capacity(calls);
    let mut client_sale = Vec::with_capacity(calls);
    let mut raw_query = Vec::with_capacity(calls);
    let mut client_lookup = Vec::with_capacity(calls);
    for i in 0..calls {
        // Interleaved, so both see the same machine.
        let order = format!("raw-{i}");
        let t = Instant::now();
        raw.post(&transact)
            .form(&[
                ("security_key", key),
                ("type", "sale"),
                ("customer_vault_id", &card.token),
                ("amount", "12.34"),
                ("currency", "USD"),
                ("orderid", &order),
            ])
            .send()
            .await
            .expect("raw sale")
            .text()
            .await
            .expect("raw body");
        raw_sale.push(t.elapsed());

        let request = ChargeRequest {
            payment_key: format!("client-{i}"),
            card_token: card.token.clone(),
            customer: None,
            amount: Money::from_minor(1234, Currency::USD),
        };
        let t = Instant::now();
        client.charge(&request).await;
        client_sale.push(t.elapsed());

        let t = Instant::now();
        raw.post(&query)
            .form(&[("security_key", key), ("order_id", order.as_str())])
            .send()
            .await
            .expect("raw query")
            .text()
            .await
            .expect("raw xml");
        raw_query.push(t.elapsed());

        let t = Instant::now();
        client.lookup(&request).await.expect("lookup");
        client_lookup.push(t.elapsed());
    }
    let report = |name: &str, raw: &mut Vec<Duration>, ours: &mut Vec<Duration>| {
        raw.sort();
        ours.sort();
        let (r50, r95) = (percentile(raw, 0.5), percentile(raw, 0.95));
        let (o50, o95) = (percentile(ours, 0.5), percentile(ours, 0.95));
        println!(
            "{name:<8} simulator alone p50 {} p95 {} · through the client p50 {} p95 {} · added p50 {} p95 {}",
            ms(r50), ms(r95), ms(o50), ms(o95), ms(o50.saturating_sub(r50)), ms(o95.saturating_sub(r95))
        );
    };
    println!("NMI client over the simulator, {calls} calls each (interleaved, one connection pool each):");
    report("sale", &mut raw_sale, &mut client_sale);
    report("lookup", &mut raw_query, &mut client_lookup);
}

/// What the Stripe client adds over the simulator's Stripe subset: raw requests with reqwest against
/// the same calls through the client (idempotency header, form, JSON parsing, outcome, redaction, log).
async fn stripe_gateway(calls: usize) {
    use clinicpay_domain::{Currency, Money};
    use clinicpay_gateways::stripe::StripeClient;
    use clinicpay_gateways::{
        CardHolder, ChargeRequest, MemoryLog, PaymentGateway, Secret, DEFAULT_TIMEOUT,
    };
    use clinicpay_sim::{SimConfig, Simulator};

    let key = "sk_test_bench";
    let sim = Simulator::start(SimConfig {
        stripe_secret_key: Some(key.into()),
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let base = format!("{}/stripe", sim.base_url());
    let client = StripeClient::new(
        Some(&base),
        Secret::new(key),
        Arc::new(MemoryLog::default()),
        DEFAULT_TIMEOUT,
    );
    let pm = sim.stripe_payment_method("4242424242424242", 12, 2030);
    let card = client
        .save_card(
            &CardHolder {
                name: "Bench Mark".into(),
                email: "bench@example.com".into(),
                patient_ref: "1".into(),
                customer: None,
            },
            &pm,
        )
        .await
        .expect("save card");
    let customer = card.customer.clone().expect("customer");
    let raw = reqwest::Client::new();
    let (mut raw_sale, mut client_sale, mut raw_list, mut client_lookup) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..calls {
        let order = format!("raw-{i}");
        let t = Instant::now();
        raw.post(format!("{base}/v1/payment_intents"))
            .bearer_auth(key)
            .header("Idempotency-Key", &order)
            .form(&[
                ("amount", "1234"),
                ("currency", "usd"),
                ("payment_method", card.token.as_str()),
                ("customer", customer.as_str()),
                ("off_session", "true"),
                ("confirm", "true"),
                ("metadata[clinicpay_payment]", order.as_str()),
            ])
            .send()
            .await
            .expect("raw sale")
            .text()
            .await
            .expect("raw body");
        raw_sale.push(t.elapsed());

        let request = ChargeRequest {
            payment_key: format!("client-{i}"),
            card_token: card.token.clone(),
            customer: Some(customer.clone()),
            amount: Money::from_minor(1234, Currency::USD),
        };
        let t = Instant::now();
        client.charge(&request).await;
        client_sale.push(t.elapsed());

        let t = Instant::now();
        raw.get(format!(
            "{base}/v1/payment_intents?customer={customer}&limit=100"
        ))
        .bearer_auth(key)
        .send()
        .await
        .expect("raw list")
        .text()
        .await
        .expect("raw list body");
        raw_list.push(t.elapsed());

        let t = Instant::now();
        client.lookup(&request).await.expect("lookup");
        client_lookup.push(t.elapsed());
    }
    println!("Stripe client over the simulator's Stripe subset, {calls} calls each (interleaved):");
    for (name, raw, ours) in [
        ("charge", &mut raw_sale, &mut client_sale),
        ("lookup", &mut raw_list, &mut client_lookup),
    ] {
        raw.sort();
        ours.sort();
        let (r50, r95) = (percentile(raw, 0.5), percentile(raw, 0.95));
        let (o50, o95) = (percentile(ours, 0.5), percentile(ours, 0.95));
        println!(
            "{name:<8} simulator alone p50 {} p95 {} · through the client p50 {} p95 {} · added p50 {} p95 {}",
            ms(r50), ms(r95), ms(o50), ms(o95), ms(o50.saturating_sub(r50)), ms(o95.saturating_sub(r95))
        );
    }
}

/// A sweep of `orders` due subscription cycles against the NMI simulator limited to `rate` requests a
/// second, by `workers` workers at once on one database: throughput as a share of the limit, and
/// duplicate charges (none allowed).
async fn sweep(orders: usize, rate: u32, workers: usize, db: Option<String>) {
    use clinicpay_domain::{
        CardBrand, CardExpiry, Currency, FixedClock, Gateway, Money, NewCard, NewPatient,
        OrganizationSettings, PatientType, SubscriptionStatus,
    };
    use clinicpay_services::Services;
    use clinicpay_sim::{SimConfig, Simulator};
    use clinicpay_store::billing::{insert_subscription, NewSubscription};
    use clinicpay_store::{organization, patients, payment_methods};

    let sim = Simulator::start(SimConfig {
        rate_limit_per_second: Some(rate),
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let url = db.unwrap_or_else(|| {
        let path = std::env::temp_dir().join(format!("clinicpay-sweep-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        path.display().to_string()
    });
    let store = clinicpay_store::Store::open(&url).await.expect("database");
    let now = chrono::Utc::now();
    let setup = Instant::now();
    {
        let mut tx = store.begin().await.expect("begin");
        let settings = OrganizationSettings {
            active_gateway: Gateway::Nmi,
            nmi_api_base: Some(sim.base_url()),
            training_mode: true,
            ..OrganizationSettings::default()
        };
        organization::save(&mut tx, &settings, now)
            .await
            .expect("settings");
        for i in 0..orders {
            let p = patients::insert(
                &mut tx,
                &NewPatient {
                    name: format!("Sweep Patient {i}"),
                    email: format!("sweep{i}@example.com"),
                    phone: None,
                    patient_type: PatientType::Individual,
                },
                now,
            )
            .await
            .expect("patient");
            let vault_id = sim.vault_card("4111111111111111", "1230");
            payment_methods::insert(
                &mut tx,
                p.id,
                &NewCard {
                    gateway: Gateway::Nmi,
                    token: vault_id,
                    brand: CardBrand::Visa,
                    last4: "1111".into(),
                    expiry: CardExpiry::new(12, 2030).expect("expiry"),
                    cardholder_name: p.name.clone(),
                    nickname: None,
                    country: None,
                    fingerprint: None,
                },
                true,
                now,
            )
            .await
            .expect("card");
            insert_subscription(
                &mut tx,
                &NewSubscription {
                    patient_id: p.id,
                    plan: "Sweep".into(),
                    amount: Money::from_minor(1_000, Currency::USD),
                    interval: "month".into(),
                    status: SubscriptionStatus::Active,
                    next_cycle_at: now,
                    locked_gateway: None,
                },
                now,
            )
            .await
            .expect("subscription");
        }
        tx.commit().await.expect("commit");
    }
    println!(
        "{orders} due cycles set up in {:.1} s ({}); simulator limited to {rate} requests/s",
        setup.elapsed().as_secs_f64(),
        clinicpay_store::redact_url(&url)
    );
    let started = Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let services = Services::new(store.clone(), Arc::new(FixedClock(now)));
        running.spawn(async move {
            loop {
                let report = services.run_worker_pass().await.expect("worker pass");
                if report.cycles_billed == 0 {
                    break;
                }
            }
        });
    }
    while running.join_next().await.is_some() {}
    let elapsed = started.elapsed().as_secs_f64();
    let sales: Vec<_> = sim
        .transactions()
        .into_iter()
        .filter(|t| t.kind == "sale" && t.success)
        .collect();
    let distinct: std::collections::BTreeSet<_> = sales.iter().map(|t| &t.order_id).collect();
    let per_vault: std::collections::BTreeMap<_, usize> =
        sales.iter().fold(Default::default(), |mut m, t| {
            *m.entry(t.vault_id.clone()).or_default() += 1;
            m
        });
    let duplicates = sales.len() - distinct.len() + per_vault.values().filter(|n| **n > 1).count();
    let throughput = sales.len() as f64 / elapsed;
    println!(
        "{workers} worker(s): {} of {orders} cycles charged in {elapsed:.1} s = {throughput:.1} charges/s = {:.1}% of the limit; {} answered 429 and were paced; {} left for the next pass; duplicate charges: {duplicates}",
        sales.len(),
        100.0 * throughput / f64::from(rate),
        sim.rate_limited(),
        orders - distinct.len()
    );
    store.close().await;
}

/// The expiring-cards dashboard's filters over the whole clinic, timed through the services.
async fn expiring(s: &Services, desk: &clinicpay_services::Actor) {
    use clinicpay_domain::PatientType;
    use clinicpay_services::reminders::ExpiringFilter;
    let cards = {
        let mut r = s.store().reader().await.expect("reader");
        billing::clinic_counts(&mut r)
            .await
            .expect("counts")
            .active_cards
    };
    println!(
        "\nexpiring-cards dashboard over {cards} saved cards (20 runs each, after one warm-up):"
    );
    println!(
        "{:<28} {:>8} {:>10} {:>10} {:>10}",
        "filter", "rows", "p50", "p95", "max"
    );
    let filters: [(&str, ExpiringFilter); 5] = [
        (
            "next 30 days",
            ExpiringFilter {
                within_days: Some(30),
                ..Default::default()
            },
        ),
        ("next 60 days (default)", ExpiringFilter::default()),
        (
            "next 90 days",
            ExpiringFilter {
                within_days: Some(90),
                ..Default::default()
            },
        ),
        (
            "already expired",
            ExpiringFilter {
                expired: true,
                ..Default::default()
            },
        ),
        (
            "next 60 days, business",
            ExpiringFilter {
                patient_type: Some(PatientType::Business),
                ..Default::default()
            },
        ),
    ];
    for (name, f) in filters {
        let rows = s
            .expiring_cards(desk, &f)
            .await
            .expect("expiring")
            .cards
            .len();
        let mut times = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            s.expiring_cards(desk, &f).await.expect("expiring");
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "{:<28} {:>8} {:>10} {:>10} {:>10}",
            name,
            rows,
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95)),
            ms(*times.last().unwrap())
        );
    }
    // The two store queries alone (the default filter), to see where the time goes.
    let now = chrono::Utc::now();
    let this = (chrono::Datelike::year(&now), chrono::Datelike::month(&now));
    let to = if this.1 >= 11 {
        (this.0 + 1, this.1 - 10)
    } else {
        (this.0, this.1 + 2)
    };
    for (label, which) in [("store: cards query", 0), ("store: plans query", 1)] {
        let mut times = Vec::new();
        for _ in 0..20 {
            let mut r = s.store().reader().await.expect("reader");
            let t = Instant::now();
            if which == 0 {
                clinicpay_store::reminders::expiring(&mut r, this, to, this, None, 5_001)
                    .await
                    .expect("q");
            } else {
                clinicpay_store::reminders::plans_depending_on(&mut r, this, to)
                    .await
                    .expect("q");
            }
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "{:<28} {:>8} {:>10} {:>10}",
            label,
            "",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95))
        );
    }
}

/// The gateway report over `payments` payments spread over a year, on a fresh database (SQLite file by
/// default, or `--db postgres://…`), timed through the services.
async fn report(payments: i64, db: Option<String>) {
    use chrono::{Duration as Days, NaiveDate, Utc};
    let db = db.unwrap_or_else(|| {
        let f = std::env::temp_dir().join(format!("clinicpay-bench-report-{payments}.db"));
        let _ = std::fs::remove_file(&f);
        f.display().to_string()
    });
    let store = Store::open(&db).await.expect("open the database");
    let s = Services::new(store.clone(), Arc::new(SystemClock));
    let existing = billing::clinic_counts(&mut store.reader().await.expect("reader"))
        .await
        .expect("counts")
        .patients;
    if existing == 0 {
        s.seed_demo(None, 10, 1).await.expect("seed");
    }
    let manager = s.actor_by_username("manager").await.expect("demo staff");
    let now = Utc::now();
    let t = Instant::now();
    let mut tx = store.begin().await.expect("begin");
    let n = clinicpay_store::report::insert_synthetic_payments(
        &mut tx,
        1,
        payments,
        now - Days::days(365),
        now,
    )
    .await
    .expect("insert payments");
    tx.commit().await.expect("commit");
    println!(
        "database: {} · {n} payments inserted in {:.1} s",
        clinicpay_store::redact_url(&db),
        t.elapsed().as_secs_f64()
    );
    let today = now.date_naive();
    let ranges: [(&str, Option<NaiveDate>); 3] = [
        ("last 30 days", Some(today - Days::days(29))),
        ("last 90 days", Some(today - Days::days(89))),
        ("whole year", Some(today - Days::days(365))),
    ];
    println!(
        "\n{:<16} {:>10} {:>10} {:>10} {:>10}",
        "range", "payments", "p50", "p95", "max"
    );
    for (name, from) in ranges {
        let r = s
            .gateway_report(&manager, from, None)
            .await
            .expect("report");
        let counted: i64 = r.gateways.iter().map(|g| g.attempts).sum();
        let mut times = Vec::new();
        for _ in 0..10 {
            let t = Instant::now();
            s.gateway_report(&manager, from, None)
                .await
                .expect("report");
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "{:<16} {:>10} {:>10} {:>10} {:>10}",
            name,
            counted,
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95)),
            ms(*times.last().unwrap())
        );
    }
}

/// Desk-to-desk propagation on PostgreSQL: desk A makes N changes one after another; desk B (its own
/// connections) hears each through LISTEN/NOTIFY. Prints, per change, the time from A's call returning
/// (the change is done at A) to B holding the notice, and from A's call starting.
async fn propagation(changes: usize, db: Option<String>) {
    use clinicpay_services::live::FeedEvent;
    let admin = db.unwrap_or_else(|| {
        std::env::var("CLINICPAY_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
    });
    let schema = format!("cp_bench_{}", std::process::id());
    let run = |sql: String| {
        let admin = admin.clone();
        async move {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&admin)
                .await
                .expect("PostgreSQL");
            sqlx::query(&sql).execute(&mut c).await.expect(&sql);
        }
    };
    run(format!("CREATE SCHEMA {schema}")).await;
    let sep = if admin.contains('?') { '&' } else { '?' };
    let url = format!("{admin}{sep}options=-c%20search_path%3D{schema}");
    let desk_a = Services::new(
        Store::open(&url).await.expect("open"),
        Arc::new(SystemClock),
    );
    let desk_b = Services::new(
        Store::open(&url).await.expect("open"),
        Arc::new(SystemClock),
    );
    desk_a.seed_demo(None, 10, 1).await.expect("seed");
    let manager = desk_a.actor_by_username("manager").await.expect("manager");
    let mut feed = desk_b
        .change_feed()
        .await
        .expect("feed")
        .expect("PostgreSQL");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let listener = tokio::spawn(async move {
        while let Some(FeedEvent::Change(_)) = feed.next().await {
            if tx.send(Instant::now()).is_err() {
                break;
            }
        }
    });
    let mut after_done = Vec::with_capacity(changes);
    let mut after_start = Vec::with_capacity(changes);
    for i in 0..changes {
        let start = Instant::now();
        desk_a
            .set_setting(&manager, "clinic-name", &format!("Clinic {i}"))
            .await
            .expect("change");
        let done = Instant::now();
        let heard = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("desk B heard nothing for 10 s")
            .expect("feed ended");
        after_done.push(heard.saturating_duration_since(done));
        after_start.push(heard.saturating_duration_since(start));
    }
    listener.abort();
    after_done.sort();
    after_start.sort();
    println!(
        "database: {} (schema {schema})",
        clinicpay_store::redact_url(&admin)
    );
    println!(
        "desk-to-desk propagation over {changes} changes: after the change returned at desk A p50 {} p95 {} max {}; from the start of the change p50 {} p95 {}",
        ms(percentile(&after_done, 0.5)),
        ms(percentile(&after_done, 0.95)),
        ms(*after_done.last().unwrap()),
        ms(percentile(&after_start, 0.5)),
        ms(percentile(&after_start, 0.95)),
    );
    desk_a.store().close().await;
    desk_b.store().close().await;
    run(format!("DROP SCHEMA {schema} CASCADE")).await;
}

//! `clinicpay-bench`: measures what the front desk waits for and prints the figures. It is a program,
//! not a test: speed is reported, never asserted.
//!
//!   clinicpay-bench search [--db URL] [--patients 200000]
//!   clinicpay-bench gateways [--calls 1000]
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
    match args.get(1).map(String::as_str) {
        Some("search") => {}
        Some("gateways") => {
            let calls = arg("--calls").and_then(|c| c.parse().ok()).unwrap_or(1000);
            return gateways(calls).await;
        }
        _ => {
            eprintln!(
                "usage: clinicpay-bench search [--db URL] [--patients N] | gateways [--calls N]"
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
        port: 0,
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

        let t = Instant::now();
        client
            .charge(&ChargeRequest {
                payment_key: format!("client-{i}"),
                card_token: card.token.clone(),
                amount: Money::from_minor(1234, Currency::USD),
            })
            .await;
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
        client.lookup(&format!("client-{i}")).await.expect("lookup");
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

//! `clinicpay-bench`: measures what the front desk waits for and prints the figures, each next to its
//! reference measured in the same run. It is a program, not a test: speed is reported, never asserted.
//! `scripts/bench.sh` runs every measure; each ends with a `RESULT |` line for the summary table.
//!
//!   clinicpay-bench clinic|search|profile|expiring|report [--db URL] [--patients 200000] [--opens 500]
//!   clinicpay-bench sweep [--orders 10000] [--rate 100] [--latency-ms 100] [--db URL]
//!   clinicpay-bench propagation [--desks 20] [--changes 1000] [--rate 50] [--db postgres://…]
//!   clinicpay-bench gateways [--calls 1000]
//!   clinicpay-bench reconcile [--transactions 100000] [--db URL]
//!   clinicpay-bench month-end [--cycles 50000] [--rate 100] [--db URL]
//!   clinicpay-bench sweep-clinic --db FILE [--orders 10000]        (for ui/bench/window.mjs)
//!   clinicpay-bench live-changes --db URL --patient EMAIL [--rate 50] [--seconds 20]
//!
//! The clinic measures run on the demo clinic at a clinic group's size (`clinicpay demo seed --patients N
//! --clinic-group`), seeded into the database when it is empty and reused when it is not: by default a
//! SQLite file in the temporary folder; on PostgreSQL, a schema `cp_bench_clinic_N` of the given database.
//! Long because each measure and its reference are written side by side, one function each.

mod clinic;
mod month_end;
mod window;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clinicpay_domain::SystemClock;
use clinicpay_services::Services;
use clinicpay_store::Store;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Durations of one measure, kept sorted for percentiles.
#[derive(Default, Clone)]
struct Timings(Vec<Duration>);

impl Timings {
    fn push(&mut self, d: Duration) {
        let at = self.0.partition_point(|x| *x <= d);
        self.0.insert(at, d);
    }
    fn p(&self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        percentile(&self.0, p)
    }
    fn max(&self) -> Duration {
        self.0.last().copied().unwrap_or_default()
    }
}

/// One line of the summary table: the measure, its figure, the reference from the same run, the ratio,
/// the target, and whether it was met.
fn verdict(
    measure: &str,
    figure: String,
    reference: String,
    ratio: String,
    target: &str,
    met: bool,
) {
    println!(
        "RESULT | {measure} | {figure} | {reference} | {ratio} | {target} | {} |",
        if met { "met" } else { "MISSED" }
    );
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
        "clinic" | "search" | "profile" | "expiring" | "report" => {
            let patients: u32 = arg("--patients")
                .and_then(|p| p.parse().ok())
                .unwrap_or(200_000);
            let url = match arg("--db") {
                Some(u) if u.starts_with("postgres") && !u.contains("search_path") => {
                    bench_schema(&u, &format!("cp_bench_clinic_{patients}")).await
                }
                Some(u) => u,
                None => std::env::temp_dir()
                    .join(format!("clinicpay-bench-group-{patients}.db"))
                    .display()
                    .to_string(),
            };
            let c = clinic::open(&url, patients).await;
            let desk = c
                .services
                .actor_by_username("frontdesk")
                .await
                .expect("demo staff");
            let label = match c.store.dialect() {
                clinicpay_store::Dialect::Sqlite => "SQLite",
                clinicpay_store::Dialect::Postgres => "PostgreSQL",
            };
            if matches!(mode.as_str(), "clinic" | "search") && label == "SQLite" {
                clinic::search(&c, &desk).await;
            }
            if matches!(mode.as_str(), "clinic" | "profile") {
                let opens = arg("--opens").and_then(|n| n.parse().ok()).unwrap_or(500);
                clinic::profile(&c, &desk, opens).await;
            }
            if matches!(mode.as_str(), "clinic" | "expiring") && label == "SQLite" {
                clinic::expiring(&c, &desk).await;
            }
            if matches!(mode.as_str(), "clinic" | "report") {
                clinic::report(&c, label).await;
            }
            c.store.close().await;
        }
        "gateways" => {
            let calls = arg("--calls").and_then(|c| c.parse().ok()).unwrap_or(1000);
            gateways(calls).await;
            stripe_gateway(calls).await;
        }
        "propagation" => {
            let changes = arg("--changes")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1000);
            let desks = arg("--desks").and_then(|c| c.parse().ok()).unwrap_or(20);
            let rate = arg("--rate").and_then(|c| c.parse().ok()).unwrap_or(50);
            propagation(desks.max(2), changes, rate, arg("--db")).await;
        }
        "sweep" => {
            let orders = arg("--orders")
                .and_then(|c| c.parse().ok())
                .unwrap_or(10_000);
            let rate = arg("--rate").and_then(|c| c.parse().ok()).unwrap_or(100);
            let latency = arg("--latency-ms")
                .and_then(|c| c.parse().ok())
                .unwrap_or(100);
            sweep(orders, rate, Duration::from_millis(latency), arg("--db")).await;
        }
        "sweep-clinic" => {
            let db = arg("--db").expect("--db FILE");
            let orders = arg("--orders")
                .and_then(|c| c.parse().ok())
                .unwrap_or(10_000);
            let patients = arg("--patients")
                .and_then(|c| c.parse().ok())
                .unwrap_or(2_000);
            window::sweep_clinic(&db, patients, orders).await;
        }
        "live-changes" => {
            let db = arg("--db").expect("--db postgres://…");
            let email = arg("--patient").expect("--patient EMAIL");
            let rate = arg("--rate").and_then(|c| c.parse().ok()).unwrap_or(50);
            let seconds = arg("--seconds").and_then(|c| c.parse().ok()).unwrap_or(20);
            window::live_changes(&db, &email, rate, seconds).await;
        }
        "month-end" => {
            let cycles = arg("--cycles")
                .and_then(|c| c.parse().ok())
                .unwrap_or(50_000);
            let rate = arg("--rate").and_then(|c| c.parse().ok()).unwrap_or(100);
            month_end::month_end(cycles, rate, arg("--db")).await;
        }
        "refresh" => {
            let cards = arg("--cards").and_then(|c| c.parse().ok()).unwrap_or(2_000);
            refresh(cards).await;
        }
        "reconcile" => {
            let n = arg("--transactions")
                .and_then(|c| c.parse().ok())
                .unwrap_or(100_000);
            reconcile(n, arg("--db")).await;
        }
        _ => {
            eprintln!(
                "usage: clinicpay-bench clinic|search|profile|expiring|report [--db URL] [--patients N] | sweep [--orders N] [--rate PER_SECOND] [--latency-ms MS] [--db URL] | propagation [--desks 20] [--changes N] [--rate 50] [--db postgres://…] | gateways [--calls N] | reconcile [--transactions N] [--db URL] | refresh [--cards N] | month-end [--cycles N] [--rate PER_SECOND] [--db URL] | sweep-clinic --db FILE [--orders N] | live-changes --db URL --patient EMAIL [--rate N] [--seconds N]"
            );
            std::process::exit(2);
        }
    }
}

/// Reconciliation at `n` transactions and at a tenth of that, on the same database: the time at `n`,
/// and whether the memory stayed bounded (the larger day takes little more than the smaller).
async fn reconcile(n: usize, db: Option<String>) {
    let (small_took, small_peak, small_found, _) = reconcile_once(n / 10, db.clone()).await;
    let (took, peak, found, label) = reconcile_once(n, db).await;
    let bounded = peak <= small_peak * 1.5;
    verdict(
        &format!("reconciliation of {n} gateway transactions ({label})"),
        format!("{:.1} s, peak {peak:.0} MiB", took.as_secs_f64()),
        format!(
            "{} transactions: {:.1} s, peak {small_peak:.0} MiB",
            n / 10,
            small_took.as_secs_f64()
        ),
        format!("memory {:.2}x", peak / small_peak.max(1.0)),
        "≤ 60 s, memory bounded (≤ 1.5x the tenth)",
        found && small_found && took <= Duration::from_secs(60) && bounded,
    );
}

/// Reconciliation of a day on which NMI holds `n` sales and the ledger `n` payments, two of which
/// differ: the time to list, match and keep it, whether both differences were found, and the peak
/// memory of the `clinicpay reconcile` process that did it.
async fn reconcile_once(n: usize, db: Option<String>) -> (Duration, f64, bool, &'static str) {
    use clinicpay_domain::{
        Currency, Gateway, Money, OrganizationSettings, PatientId, PaymentStatus, Role,
    };
    use clinicpay_sim::{SimConfig, Simulator};
    use clinicpay_store::payments::{insert_payment, NewPayment};
    use clinicpay_store::{organization, patients};

    let sim = Simulator::start(SimConfig::default())
        .await
        .expect("simulator");
    let (url, schema) = match db.as_deref() {
        Some(pg) if pg.starts_with("postgres") => {
            let schema = format!("cp_bench_reconcile_{}", std::process::id());
            (
                bench_schema(pg, &schema).await,
                Some((pg.to_owned(), schema)),
            )
        }
        _ => {
            let path =
                std::env::temp_dir().join(format!("clinicpay-reconcile-{}.db", std::process::id()));
            let _ = std::fs::remove_file(&path);
            (path.display().to_string(), None)
        }
    };
    let store = Store::open(&url).await.expect("database");
    let s = Services::new(store.clone(), Arc::new(SystemClock));
    let now = chrono::Utc::now();
    let seeding = Instant::now();
    let patient: PatientId;
    {
        let mut tx = store.begin().await.expect("begin");
        organization::save(
            &mut tx,
            &OrganizationSettings {
                active_gateway: Gateway::Nmi,
                nmi_api_base: Some(sim.base_url()),
                training_mode: true,
                ..OrganizationSettings::default()
            },
            now,
        )
        .await
        .expect("settings");
        patient = patients::insert(
            &mut tx,
            &clinicpay_domain::NewPatient {
                name: "Reconcile Bench".into(),
                email: "reconcile@example.com".into(),
                phone: None,
                patient_type: clinicpay_domain::PatientType::Individual,
            },
            now,
        )
        .await
        .expect("patient")
        .id;
        let vault = sim.vault_card("4111111111111111", "1230");
        for i in 0..n {
            let key = format!("pay-bench-{i}");
            let cents = 1_000 + (i % 9_000) as i64;
            let answer = sim.nmi_transact(&format!(
                "security_key=bench&type=sale&customer_vault_id={vault}&amount={}.{:02}&orderid={key}",
                cents / 100,
                cents % 100
            ));
            assert!(answer.contains("response=1"), "{answer}");
            // Two differences the run must find: one recorded for another amount, one not recorded.
            if i == n / 2 {
                continue;
            }
            let amount = if i == n / 3 { cents + 1 } else { cents };
            insert_payment(
                &mut tx,
                &NewPayment {
                    patient_id: patient,
                    invoice_id: None,
                    order_id: None,
                    payment_method_id: None,
                    gateway: Gateway::Nmi,
                    amount: Money::from_minor(amount, Currency::USD),
                    status: PaymentStatus::Succeeded,
                    idempotency_key: key,
                    gateway_reference: None,
                    decline_code: None,
                    decline_message: None,
                    created_by: None,
                },
                now,
            )
            .await
            .expect("payment");
        }
        tx.commit().await.expect("commit");
    }
    s.add_staff(None, "it", "IT", Role::ItAdmin, "bench-password-1")
        .await
        .expect("it");
    let it = s.actor_by_username("it").await.expect("it");
    s.add_staff(
        Some(&it),
        "manager",
        "Manager",
        Role::BillingManager,
        "bench-manager-pass-2",
    )
    .await
    .expect("manager");
    println!(
        "seeded {n} NMI sales and {} payments in {:.1} s",
        n - 1,
        seeding.elapsed().as_secs_f64()
    );
    store.close().await;
    // The reconciliation runs as the product runs it, `clinicpay reconcile` in a process of its own,
    // so its memory is its own (the simulator and its million transactions stay in this one).
    // Asked ten minutes on: what was made in the last five minutes is left for a later run.
    let day = now.date_naive().to_string();
    let later = (now + chrono::Duration::minutes(10)).to_rfc3339();
    let clinicpay = std::env::current_exe()
        .expect("this program's path")
        .with_file_name("clinicpay");
    let started = Instant::now();
    let mut child = std::process::Command::new(&clinicpay)
        .args([
            "--db",
            &url,
            "--now",
            &later,
            "--as",
            "manager",
            "--json",
            "reconcile",
        ])
        .args(["--from", &day, "--to", &day, "--gateway", "nmi"])
        .env("CLINICPAY_PASSWORD", "bench-manager-pass-2")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", clinicpay.display()));
    let pid = child.id();
    // Its own memory (anonymous: heap, stacks) at its highest, sampled every 20 ms; and the database
    // pages it maps (SQLite reads through a memory map: the system's cache of the file, not the run's).
    let (mut peak, mut mapped): (f64, f64) = (0.0, 0.0);
    let output = loop {
        if let Ok(Some(_)) = child.try_wait() {
            break child.wait_with_output().expect("reconcile output");
        }
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            let field = |name: &str| {
                status
                    .lines()
                    .find(|l| l.starts_with(name))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<f64>().ok())
                    .map_or(0.0, |kb| kb / 1024.0)
            };
            peak = peak.max(field("RssAnon:"));
            mapped = mapped.max(field("RssFile:"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = started.elapsed();
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "clinicpay reconcile answered no JSON ({e}), exit {:?}: {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let g = &result["gateways"][0];
    let kinds: Vec<String> = g["mismatches"]
        .as_array()
        .map(|m| m.iter().map(|m| m["kind"].to_string()).collect())
        .unwrap_or_default();
    let label = match store.dialect() {
        clinicpay_store::Dialect::Sqlite => "SQLite",
        clinicpay_store::Dialect::Postgres => "PostgreSQL",
    };
    println!(
        "{label}: `clinicpay reconcile` (exit {:?}): {} NMI charges and {} payments matched in {:.2} s; {} differences found ({}); the process's own memory at its peak {peak:.0} MiB (and {mapped:.0} MiB of the database file mapped)",
        output.status.code(),
        g["gateway_charges"],
        g["ledger_payments"],
        took.as_secs_f64(),
        kinds.len(),
        kinds.join(", "),
    );
    let found = kinds.len() == 2 && output.status.code() == Some(3);
    match schema {
        Some((admin, schema)) => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&admin)
                .await
                .expect("PostgreSQL");
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&mut c)
                .await
                .expect("drop the benchmark schema");
        }
        None => {
            let _ = std::fs::remove_file(&url);
        }
    }
    (took, peak, found, label)
}

/// A PostgreSQL address whose tables live in `schema` (made if missing), so a benchmark's clinic neither
/// meets nor disturbs another in the same database.
async fn bench_schema(admin: &str, schema: &str) -> String {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(admin)
        .await
        .expect("PostgreSQL");
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .execute(&mut c)
        .await
        .expect("create the benchmark schema");
    let sep = if admin.contains('?') { '&' } else { '?' };
    format!("{admin}{sep}options=-c%20search_path%3D{schema}")
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
                country: None,
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
            check_duplicates: false,
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
                country: None,
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
            check_duplicates: false,
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

/// The recovery sweep: `orders` due subscription cycles charged against the NMI simulator.
/// 1. limited to `rate` requests a second, by one worker and then by two on one database: charges a
///    second as a share of the limit, and duplicate charges (none allowed);
/// 2. with the gateway answering each charge after `latency` and no limit (a real gateway's round trip
///    is what bounds a worker then): two workers' rate against one's.
async fn sweep(orders: usize, rate: u32, latency: Duration, db: Option<String>) {
    println!("recovery sweep over {orders} due cycles, NMI simulator:");
    let mut met = true;
    let mut figures = Vec::new();
    let mut dups = 0;
    for workers in [1, 2] {
        let r = sweep_once(orders, Some(rate), None, workers, db.as_deref()).await;
        let share = 100.0 * r.per_second() / f64::from(rate);
        println!(
            "  limited to {rate}/s, {workers} worker(s): {} charged in {:.1} s = {:.1}/s = {share:.1}% of the limit; {} answered 429 and were paced; duplicate charges: {}",
            r.charged, r.elapsed, r.per_second(), r.rate_limited, r.duplicates
        );
        met &= share >= 95.0 && r.duplicates == 0 && r.charged == orders;
        dups += r.duplicates;
        figures.push(format!("{workers} worker(s) {share:.1}%"));
    }
    verdict(
        "recovery sweep, rate-limited gateway",
        format!("{}; {dups} duplicates", figures.join(", ")),
        format!("the limit, {rate}/s"),
        "—".into(),
        "≥ 95% of the limit; 0 duplicates",
        met,
    );
    let scale_orders = orders.min(2_000);
    let one = sweep_once(scale_orders, None, Some(latency), 1, db.as_deref()).await;
    let two = sweep_once(scale_orders, None, Some(latency), 2, db.as_deref()).await;
    let speedup = two.per_second() / one.per_second();
    for (w, r) in [(1, &one), (2, &two)] {
        println!(
            "  gateway answering in {} ms, no limit, {w} worker(s): {} charged in {:.1} s = {:.1}/s; duplicate charges: {}",
            latency.as_millis(), r.charged, r.elapsed, r.per_second(), r.duplicates
        );
    }
    verdict(
        "recovery sweep, two workers",
        format!("{:.1} charges/s", two.per_second()),
        format!("one worker {:.1} charges/s", one.per_second()),
        format!("{speedup:.2}x"),
        "≥ 1.8x; 0 duplicates",
        speedup >= 1.8 && one.duplicates + two.duplicates == 0,
    );
}

struct SweepRun {
    charged: usize,
    elapsed: f64,
    rate_limited: usize,
    duplicates: usize,
}

impl SweepRun {
    fn per_second(&self) -> f64 {
        self.charged as f64 / self.elapsed
    }
}

/// One sweep on a fresh database (a temporary SQLite file, or a new schema of the PostgreSQL database
/// given, dropped afterwards).
async fn sweep_once(
    orders: usize,
    rate: Option<u32>,
    latency: Option<Duration>,
    workers: usize,
    db: Option<&str>,
) -> SweepRun {
    use clinicpay_domain::FixedClock;
    use clinicpay_sim::{Fault, SimConfig, Simulator};

    let sim = Simulator::start(SimConfig {
        rate_limit_per_second: rate,
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    if let Some(d) = latency {
        sim.inject("/api/transact.php", usize::MAX, Fault::Latency(d));
    }
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (url, schema) = match db {
        Some(pg) if pg.starts_with("postgres") => {
            let schema = format!("cp_bench_sweep_{}_{run}", std::process::id());
            (
                bench_schema(pg, &schema).await,
                Some((pg.to_owned(), schema)),
            )
        }
        _ => {
            let path = std::env::temp_dir()
                .join(format!("clinicpay-sweep-{}-{run}.db", std::process::id()));
            let _ = std::fs::remove_file(&path);
            (path.display().to_string(), None)
        }
    };
    let store = clinicpay_store::Store::open(&url).await.expect("database");
    let now = chrono::Utc::now();
    seed_due_cycles(&store, &sim, orders, now).await;
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
    store.close().await;
    match schema {
        Some((admin, schema)) => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&admin)
                .await
                .expect("PostgreSQL");
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&mut c)
                .await
                .expect("drop the benchmark schema");
        }
        None => {
            let _ = std::fs::remove_file(&url);
        }
    }
    SweepRun {
        charged: distinct.len(),
        elapsed,
        rate_limited: sim.rate_limited(),
        duplicates,
    }
}

/// A clinic billing through the NMI simulator `sim`, with `n` patients, each with a saved card and a
/// monthly plan whose cycle is due at `now`: a month-end's worth of due cycles.
pub(crate) async fn seed_due_cycles(
    store: &Store,
    sim: &clinicpay_sim::Simulator,
    n: usize,
    now: chrono::DateTime<chrono::Utc>,
) {
    use clinicpay_domain::{
        CardBrand, CardExpiry, Currency, Gateway, Money, NewCard, NewPatient, OrganizationSettings,
        PatientType, SubscriptionStatus,
    };
    use clinicpay_store::subscriptions::{insert_subscription, NewSubscription};
    use clinicpay_store::{organization, patients, payment_methods};
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
    for i in 0..n {
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
                interval: clinicpay_domain::BillingInterval::Month,
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

/// The card networks' updates first (issue 23): how fast ClinicPay asks each gateway for expiring
/// cards against a simulator that enforces the gateway's rate limit (Stripe: 25 a second for one
/// endpoint; NMI publishes none, so the simulator is given 10), a tenth of them renewed by the network,
/// and what 50,000 expiring cards take at that pace.
async fn refresh(cards: usize) {
    use clinicpay_domain::Gateway;
    println!("refresh from the card networks' updates, {cards} expiring cards a gateway, simulator at the gateway's limit:");
    for (gateway, limit) in [(Gateway::Stripe, 25), (Gateway::Nmi, 10)] {
        let n = if gateway == Gateway::Nmi {
            cards / 4
        } else {
            cards
        };
        let (report, elapsed, limited) = refresh_once(gateway, n, limit).await;
        let per_second = f64::from(report.checked) / elapsed;
        println!(
            "  {gateway}: {} checked in {elapsed:.1} s = {per_second:.1}/s ({:.0}% of the {limit}/s limit), {} renewed, {} could not be checked, {limited} answered 429; 50,000 expiring cards at this pace: {:.0} min",
            report.checked,
            100.0 * per_second / f64::from(limit),
            report.renewed,
            report.could_not_check,
            50_000.0 / per_second / 60.0
        );
        verdict(
            &format!("refresh, {gateway}"),
            format!("{per_second:.1} cards/s"),
            format!("the limit, {limit}/s"),
            format!("{:.0}%", 100.0 * per_second / f64::from(limit)),
            "under the limit, 0 answered 429, every renewal taken",
            limited == 0 && report.renewed as usize == n / 10 && report.could_not_check == 0,
        );
    }
}

async fn refresh_once(
    gateway: clinicpay_domain::Gateway,
    cards: usize,
    limit: u32,
) -> (clinicpay_services::card_refresh::RefreshReport, f64, usize) {
    use chrono::Datelike;
    use clinicpay_domain::{
        CardBrand, CardExpiry, Gateway, NewCard, NewPatient, OrganizationSettings, PatientType,
        Role, StaffId, SystemClock,
    };
    use clinicpay_sim::{SimConfig, Simulator};
    use clinicpay_store::{organization, patients, payment_methods};

    let sim = Simulator::start(SimConfig {
        rate_limit_per_second: Some(limit),
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let path = std::env::temp_dir().join(format!(
        "clinicpay-refresh-{}-{}.db",
        std::process::id(),
        gateway.as_str()
    ));
    let _ = std::fs::remove_file(&path);
    let url = path.display().to_string();
    let store = clinicpay_store::Store::open(&url).await.expect("database");
    let now = chrono::Utc::now();
    let soon = now + chrono::Duration::days(20);
    {
        let mut tx = store.begin().await.expect("begin");
        let settings = OrganizationSettings {
            active_gateway: gateway,
            nmi_api_base: Some(sim.base_url()),
            stripe_api_base: Some(format!("{}/stripe", sim.base_url())),
            training_mode: true,
            ..OrganizationSettings::default()
        };
        organization::save(&mut tx, &settings, now)
            .await
            .expect("settings");
        for i in 0..cards {
            let p = patients::insert(
                &mut tx,
                &NewPatient {
                    name: format!("Refresh Patient {i}"),
                    email: format!("refresh{i}@example.com"),
                    phone: None,
                    patient_type: PatientType::Individual,
                },
                now,
            )
            .await
            .expect("patient");
            // A tenth carry the number the network renews below.
            let number = if i % 10 == 0 {
                "5555555555554444"
            } else {
                "4111111111111111"
            };
            let (month, year) = (soon.month(), soon.year());
            let token = match gateway {
                Gateway::Stripe => sim.stripe_payment_method(number, month, year),
                Gateway::Nmi => sim.vault_card(number, &format!("{month:02}{:02}", year % 100)),
            };
            payment_methods::insert(
                &mut tx,
                p.id,
                &NewCard {
                    gateway,
                    token,
                    brand: CardBrand::Visa,
                    last4: number[12..].into(),
                    expiry: CardExpiry::new(month, year).expect("expiry"),
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
        }
        tx.commit().await.expect("commit");
    }
    // Stripe renews only cards saved to a customer; the simulator's PaymentMethods here have none, so
    // the NMI vault and Stripe differ: Stripe's are attached first.
    if gateway == Gateway::Stripe {
        sim.attach_all_stripe_payment_methods();
    }
    sim.renew_card(gateway.as_str(), "4444", 6, soon.year() + 4, None);
    let services = Services::new(store.clone(), Arc::new(SystemClock));
    let bench = clinicpay_services::Actor {
        id: StaffId(0),
        username: "bench".into(),
        display_name: "Bench".into(),
        role: Role::FrontDesk,
    };
    let started = Instant::now();
    let report = services.refresh_cards(&bench, None).await.expect("refresh");
    let elapsed = started.elapsed().as_secs_f64();
    store.close().await;
    let _ = std::fs::remove_file(&path);
    (report, elapsed, sim.rate_limited())
}

/// Desk-to-desk propagation on PostgreSQL: desk A makes N changes one after another; desk B (its own
/// connections) hears each through LISTEN/NOTIFY. Prints, per change, the time from A's call returning
/// (the change is done at A) to B holding the notice, and from A's call starting.
/// Twenty desks on one PostgreSQL (issue 24): each desk is a process's services of its own (its own
/// connections and its own listening connection), the desks make `rate` changes a second between
/// them, in turn, and every other desk hears each one through the change feed. The figure is the time
/// from the start of a change at one desk to its notice at each of the others.
async fn propagation(desks: usize, changes: usize, rate: u32, db: Option<String>) {
    use clinicpay_services::live::FeedEvent;
    let admin = db.unwrap_or_else(|| {
        std::env::var("CLINICPAY_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
    });
    let schema = format!("cp_bench_{}", std::process::id());
    let url = bench_schema(&admin, &schema).await;
    let mut at_desk = Vec::with_capacity(desks);
    for _ in 0..desks {
        at_desk.push(Services::new(
            Store::open(&url).await.expect("open"),
            Arc::new(SystemClock),
        ));
    }
    at_desk[0].seed_demo(None, 10, 1).await.expect("seed");
    let manager = at_desk[0]
        .actor_by_username("manager")
        .await
        .expect("manager");
    // When each change started, by its number: the feed delivers in commit order, and the changes
    // are made one after another, so a desk's n-th notice is change n.
    let started: Arc<std::sync::Mutex<Vec<Instant>>> =
        Arc::new(std::sync::Mutex::new(Vec::with_capacity(changes)));
    let mut listening = tokio::task::JoinSet::new();
    for (d, desk) in at_desk.iter().enumerate() {
        let mut feed = desk.change_feed().await.expect("feed").expect("PostgreSQL");
        let started = started.clone();
        listening.spawn(async move {
            // (change number, heard after its start) for changes made at the other desks.
            let mut heard = Vec::with_capacity(changes);
            let mut n = 0;
            while n < changes {
                match tokio::time::timeout(Duration::from_secs(10), feed.next()).await {
                    Ok(Some(FeedEvent::Change(_))) => {
                        let at = Instant::now();
                        let Some(start) = started.lock().expect("starts").get(n).copied() else {
                            panic!("desk {d} heard a change that was not made (one change, one notice?)");
                        };
                        if n % desks != d {
                            heard.push(at.saturating_duration_since(start));
                        }
                        n += 1;
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            (d, n, heard)
        });
    }
    let mut pace = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let run = Instant::now();
    let mut took = Timings::default();
    for i in 0..changes {
        pace.tick().await;
        let desk = &at_desk[i % desks];
        let start = Instant::now();
        started.lock().expect("starts").push(start);
        desk.set_setting(&manager, "clinic-name", &format!("Clinic {i}"))
            .await
            .expect("change");
        took.push(start.elapsed());
    }
    let made_in = run.elapsed().as_secs_f64();
    let mut all = Vec::new();
    let mut missed = 0;
    while let Some(done) = listening.join_next().await {
        let (_, n, heard) = done.expect("listener");
        missed += changes - n;
        all.extend(heard);
    }
    all.sort();
    let all = Timings(all);
    println!(
        "database: {} (schema {schema})",
        clinicpay_store::redact_url(&admin)
    );
    println!(
        "{desks} desks, {changes} changes made in turn at {:.1} a second (each took p50 {} p95 {} at its desk); heard at the {} other desks: p50 {} p95 {} p99 {} max {}; notices missed: {missed}",
        changes as f64 / made_in,
        ms(took.p(0.5)),
        ms(took.p(0.95)),
        desks - 1,
        ms(all.p(0.5)),
        ms(all.p(0.95)),
        ms(all.p(0.99)),
        ms(all.max()),
    );
    let p95 = all.p(0.95);
    verdict(
        &format!(
            "{desks} desks on one PostgreSQL, {rate} changes/s: change seen at the other desks"
        ),
        format!("p95 {} (p50 {}), {missed} missed", ms(p95), ms(all.p(0.5))),
        "—".into(),
        "—".into(),
        "p95 ≤ 50 ms",
        p95 <= Duration::from_millis(50) && missed == 0,
    );
    for desk in &at_desk {
        desk.store().close().await;
    }
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(&admin)
        .await
        .expect("PostgreSQL");
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut c)
        .await
        .expect("drop the benchmark schema");
}

//! `clinicpay-bench`: measures what the front desk waits for and prints the figures. It is a program,
//! not a test: speed is reported, never asserted.
//!
//!   clinicpay-bench search [--db URL] [--patients 200000]
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
    if args.get(1).map(String::as_str) != Some("search") {
        eprintln!("usage: clinicpay-bench search [--db URL] [--patients N]");
        std::process::exit(2);
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

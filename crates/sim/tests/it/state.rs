//! `sim serve --state FILE`: a training desk keeps its simulated gateways' saved cards and ledger when
//! the app restarts, so the cards in its database still charge.

use std::path::PathBuf;

use clinicpay_sim::{SimConfig, Simulator};

/// A folder of this test's own and the state file's path in it (not there yet).
fn fresh_state_file(name: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("clinicpay-sim-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sim.json");
    let _ = std::fs::remove_file(&file);
    (dir, file)
}

/// Saves a test Visa in the NMI vault through the Payment API, as ClinicPay does; its vault id.
async fn vault_a_card(http: &reqwest::Client, sim: &Simulator) -> String {
    let token = sim.payment_token("4111111111111111", "1230");
    let reply = http
        .post(format!("{}/api/transact.php", sim.base_url()))
        .form(&[
            ("security_key", "any-key"),
            ("customer_vault", "add_customer"),
            ("payment_token", token.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let fields: Vec<(String, String)> = serde_urlencoded::from_str(&reply).unwrap();
    fields
        .into_iter()
        .find(|(k, _)| k == "customer_vault_id")
        .map(|(_, v)| v)
        .expect("a vault id")
}

#[tokio::test]
async fn the_vault_ledger_and_stripe_objects_survive_a_restart_with_a_state_file() {
    let (dir, file) = fresh_state_file("state");
    let config = SimConfig {
        state_file: Some(file.clone()),
        ..SimConfig::default()
    };
    let http = reqwest::Client::new();
    let (vault_id, pm) = {
        let sim = Simulator::start(config.clone()).await.unwrap();
        let vault_id = vault_a_card(&http, &sim).await;
        let pm = sim.stripe_payment_method("4242424242424242", 12, 2030);
        // A request after the payment method was made writes it to the file as well.
        http.get(format!("{}/stripe/v1/payment_methods/{pm}", sim.base_url()))
            .bearer_auth("sk_test_x")
            .send()
            .await
            .unwrap();
        (vault_id, pm)
    };
    assert!(file.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode, 0o600,
            "the simulated vault is readable by its owner only"
        );
    }
    // Brand, last four, expiry and behaviour are kept; never the whole number.
    let saved = std::fs::read_to_string(&file).unwrap();
    for number in ["4111111111111111", "4242424242424242"] {
        assert!(!saved.contains(number), "{number} is in the state file");
    }
    assert!(
        saved.contains("1111") && saved.contains("4242"),
        "the last four are kept"
    );
    let again = Simulator::start(config).await.unwrap();
    assert_eq!(again.vault_ids(), vec![vault_id]);
    let pm_reply: serde_json::Value = http
        .get(format!(
            "{}/stripe/v1/payment_methods/{pm}",
            again.base_url()
        ))
        .bearer_auth("sk_test_x")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pm_reply["card"]["last4"], "4242");
    std::fs::remove_dir_all(&dir).ok();

    // A damaged state file is refused, never silently replaced.
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&file, "{not json").unwrap();
    let err = Simulator::start(SimConfig {
        state_file: Some(file.clone()),
        ..SimConfig::default()
    })
    .await
    .err()
    .expect("refused");
    assert!(err.to_string().contains("unreadable"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_burst_of_requests_writes_the_state_file_a_few_times_and_it_ends_up_with_the_newest() {
    // Writing the whole state after every request cost the desk its processor in a sweep of thousands
    // of orders: the file now gathers a quarter second of changes, and nothing is lost at the end.
    let (dir, file) = fresh_state_file("burst");
    let sim = Simulator::start(SimConfig {
        state_file: Some(file.clone()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let mut last = String::new();
    for _ in 0..200 {
        last = vault_a_card(&http, &sim).await;
    }
    let writes = sim.state_writes();
    assert!(writes <= 50, "200 requests wrote the file {writes} times");
    // A moment later the file holds the last card, without the simulator stopping.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert!(
        sim.state_writes() > writes,
        "the gathered changes were written"
    );
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(
        saved.contains(&last),
        "the newest vault entry {last} is in the file"
    );
    // A change just before the simulator stops is written as it stops.
    vault_a_card(&http, &sim).await;
    let vaulted = sim.vault_size();
    assert_eq!(vaulted, 201);
    drop(sim);
    let again = Simulator::start(SimConfig {
        state_file: Some(file.clone()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    assert_eq!(
        again.vault_size(),
        vaulted,
        "the last change survived the stop"
    );
    drop(again);
    std::fs::remove_dir_all(&dir).ok();
}

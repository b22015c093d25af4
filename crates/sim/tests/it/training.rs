//! Training mode: the demo clinic's made-up cards charge as approved test cards, but only when the
//! simulator is started for training; otherwise an unknown vault id is refused as NMI refuses it.

use clinicpay_sim::{SimConfig, Simulator};

async fn sale_with_vault_id(sim: &Simulator, id: &str) -> String {
    reqwest::Client::new()
        .post(format!("{}/api/transact.php", sim.base_url()))
        .form(&[
            ("security_key", "k"),
            ("type", "sale"),
            ("amount", "12.00"),
            ("currency", "USD"),
            ("orderid", "t1"),
            ("customer_vault_id", id),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn demo_cards_charge_in_training_and_are_unknown_otherwise() {
    let training = Simulator::start(SimConfig {
        adopt_demo_cards: true,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let ok = sale_with_vault_id(&training, "demo00000120").await;
    assert!(ok.contains("response=1"), "{ok}");
    let not_demo = sale_with_vault_id(&training, "12345").await;
    assert!(not_demo.contains("Invalid+Customer+Vault+Id"), "{not_demo}");

    let plain = Simulator::start(SimConfig::default()).await.unwrap();
    let refused = sale_with_vault_id(&plain, "demo00000120").await;
    assert!(refused.contains("Invalid+Customer+Vault+Id"), "{refused}");
}

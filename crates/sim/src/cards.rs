//! Test card numbers and what the simulator does with them. The approving numbers are NMI's test-mode
//! cards; the declining ones reuse Stripe's well-known test numbers so staff learn one list.

/// The test cards NMI and Stripe publish, and the only numbers the simulator takes: training never
/// holds a patient's real card, even one typed by mistake.
pub const PUBLISHED_TEST_CARDS: &[&str] = &[
    // NMI's test-mode cards.
    "4111111111111111",
    "5431111111111111",
    "341111111111111",
    "6011601160116611",
    // Stripe's, by brand.
    "4242424242424242",
    "4000056655665556",
    "5555555555554444",
    "2223003122003222",
    "5200828282828210",
    "5105105105105100",
    "378282246310005",
    "371449635398431",
    "6011111111111117",
    "6011000990139424",
    "3056930009020004",
    "36227206271667",
    "3566002020360505",
    "6200000000000005",
    // Stripe's declines and authentication, which the simulator also plays on NMI.
    "4000000000000002",
    "4000000000009995",
    "4000000000009987",
    "4000000000009979",
    "4000000000000069",
    "4000000000000127",
    "4000000000000119",
    "4000000000000341",
    "4000000000000259",
    "4000002500003155",
    "4000002760003184",
    // The simulator's own: NMI's look-up class (420, 430).
    "4000000000420002",
    "4000000000430001",
];

/// What the card fields say when another number is typed.
pub const NOT_A_TEST_CARD: &str = "Training takes only the published test cards, such as 4111 1111 1111 1111 or 4242 4242 4242 4242: never a patient's real card.";

pub fn is_published_test_card(number: &str) -> bool {
    PUBLISHED_TEST_CARDS.contains(&number)
}

/// This simulator's own secret, kept in its state file (readable by its owner only), that card
/// digests and fingerprints are keyed with: a fingerprint seen elsewhere (ClinicPay stores Stripe's)
/// cannot be turned back into a number by trying every number.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct CardKey(String);

impl Default for CardKey {
    fn default() -> Self {
        CardKey(
            (0..4)
                .map(|_| format!("{:016x}", rand::random::<u64>()))
                .collect(),
        )
    }
}

impl CardKey {
    pub fn digest(&self, number: &str) -> u64 {
        use sha2::{Digest, Sha256};
        let d = Sha256::new()
            .chain_update(self.0.as_bytes())
            .chain_update(b":")
            .chain_update(number.as_bytes())
            .finalize();
        u64::from_be_bytes(d[..8].try_into().expect("eight bytes"))
    }
}

/// What a card number does when charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardBehaviour {
    Approve,
    /// Declined with this NMI response_code and text.
    Decline(u16, &'static str),
    /// NMI answers with a code of its look-up class (420 communication error, 430 duplicate at the
    /// processor) although the processor may have acted: `charged` says whether it did.
    Unclear(u16, &'static str, bool),
}

pub fn brand_of(number: &str) -> &'static str {
    match number.as_bytes().first() {
        Some(b'4') => "visa",
        Some(b'5') | Some(b'2') => "mastercard",
        Some(b'3') => "amex",
        Some(b'6') => "discover",
        _ => "unknown",
    }
}

pub fn behaviour_of(number: &str) -> CardBehaviour {
    match number {
        "4000000000000002" => CardBehaviour::Decline(200, "DECLINE"),
        "4000000000009995" => CardBehaviour::Decline(202, "Insufficient funds"),
        "4000000000000069" => CardBehaviour::Decline(223, "Expired card"),
        "4000000000000127" => CardBehaviour::Decline(225, "Invalid card security code"),
        "4000000000000119" => CardBehaviour::Decline(251, "Lost card, pick up"),
        "4000000000000341" => CardBehaviour::Decline(201, "Do not honor"),
        "4000000000000259" => CardBehaviour::Decline(261, "Declined-Stop all recurring payments"),
        "4000000000420002" => CardBehaviour::Unclear(420, "Communication error with issuer", true),
        "4000000000430001" => {
            CardBehaviour::Unclear(430, "Duplicate transaction at processor", false)
        }
        _ => CardBehaviour::Approve,
    }
}

/// Luhn check, as the hosted fields do before tokenising.
pub fn luhn_ok(number: &str) -> bool {
    if !(12..=19).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = number
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = (b - b'0') as u32;
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// "4xxxxxxxxxxx1111", as NMI's Query API masks numbers.
pub fn masked(number: &str) -> String {
    let n = number.len();
    if n < 5 {
        return "x".repeat(n);
    }
    format!("{}{}{}", &number[..1], "x".repeat(n - 5), &number[n - 4..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_published_test_card_is_a_valid_number() {
        for n in PUBLISHED_TEST_CARDS {
            assert!(luhn_ok(n), "{n}");
        }
        assert!(
            !is_published_test_card("4012888888881881"),
            "a valid number not on the list"
        );
    }

    #[test]
    fn digests_depend_on_the_simulators_key() {
        let (a, b) = (CardKey::default(), CardKey::default());
        assert_eq!(a.digest("4111111111111111"), a.digest("4111111111111111"));
        assert_ne!(a.digest("4111111111111111"), b.digest("4111111111111111"));
    }

    #[test]
    fn test_cards_pass_luhn_and_mask_like_nmi() {
        for n in [
            "4111111111111111",
            "5431111111111111",
            "341111111111111",
            "6011601160116611",
            "4000000000009995",
        ] {
            assert!(luhn_ok(n), "{n}");
        }
        assert!(!luhn_ok("4111111111111112"));
        assert_eq!(masked("4111111111111111"), "4xxxxxxxxxxx1111");
        assert_eq!(brand_of("341111111111111"), "amex");
    }
}

//! Test card numbers and what the simulator does with them. The approving numbers are NMI's test-mode
//! cards; the declining ones reuse Stripe's well-known test numbers so staff learn one list.

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

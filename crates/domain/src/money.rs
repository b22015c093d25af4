//! Money is exact: integer minor units plus an ISO 4217 currency. There is no float anywhere near it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::DomainError;

/// The currencies a clinic can bill in, with their minor-unit exponent from ISO 4217.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum Currency {
    USD,
    CAD,
    EUR,
    GBP,
    AUD,
    NZD,
    JPY,
}

impl Currency {
    pub const ALL: [Currency; 7] = [
        Currency::USD,
        Currency::CAD,
        Currency::EUR,
        Currency::GBP,
        Currency::AUD,
        Currency::NZD,
        Currency::JPY,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Currency::USD => "USD",
            Currency::CAD => "CAD",
            Currency::EUR => "EUR",
            Currency::GBP => "GBP",
            Currency::AUD => "AUD",
            Currency::NZD => "NZD",
            Currency::JPY => "JPY",
        }
    }

    /// Digits after the decimal point (ISO 4217 "minor unit").
    pub fn exponent(self) -> u32 {
        match self {
            Currency::JPY => 0,
            _ => 2,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Currency::USD => "$",
            Currency::CAD => "CA$",
            Currency::EUR => "€",
            Currency::GBP => "£",
            Currency::AUD => "A$",
            Currency::NZD => "NZ$",
            Currency::JPY => "¥",
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let code = s.trim().to_ascii_uppercase();
        Currency::ALL
            .into_iter()
            .find(|c| c.code() == code)
            .ok_or_else(|| {
                DomainError::InvalidSetting(format!(
                    "\"{}\" is not a currency ClinicPay bills in: use one of {}.",
                    s.trim(),
                    Currency::ALL.map(|c| c.code()).join(", ")
                ))
            })
    }
}

/// An exact amount: `minor` units of `currency` (cents for USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Money {
    /// A number in TypeScript: exact up to 2^53 minor units (90 trillion dollars).
    #[cfg_attr(feature = "specta", specta(type = i32))]
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn from_minor(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    pub fn zero(currency: Currency) -> Self {
        Money { minor: 0, currency }
    }

    pub fn is_positive(self) -> bool {
        self.minor > 0
    }

    /// Parses what staff type: "12.34", "12", "1,234.50", "$12.34". At most the currency's number of
    /// decimal places; no exponent, no sign games.
    pub fn parse(text: &str, currency: Currency) -> Result<Money, DomainError> {
        let bad = || {
            DomainError::InvalidAmount(format!(
                "\"{}\" is not an amount: type it like {} (digits, and at most {} after the point).",
                text.trim(),
                Money::from_minor(1234 * 10i64.pow(currency.exponent()) / 100, currency)
                    .plain(),
                currency.exponent()
            ))
        };
        let mut s = text.trim();
        let negative = s.starts_with('-');
        if negative {
            s = &s[1..];
        }
        let s = s
            .strip_prefix(currency.symbol())
            .or_else(|| s.strip_prefix('$'))
            .unwrap_or(s)
            .trim();
        let s: String = s.chars().filter(|c| *c != ',').collect();
        if s.is_empty() {
            return Err(bad());
        }
        let (whole, frac) = match s.split_once('.') {
            Some((w, f)) => (w, f),
            None => (s.as_str(), ""),
        };
        let exp = currency.exponent() as usize;
        if whole.is_empty() && frac.is_empty()
            || !whole.chars().all(|c| c.is_ascii_digit())
            || !frac.chars().all(|c| c.is_ascii_digit())
            || frac.len() > exp
            || (exp == 0 && s.contains('.'))
        {
            return Err(bad());
        }
        let overflow = || DomainError::Overflow(format!("{} is too large an amount.", text.trim()));
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| overflow())?
        };
        let frac_padded = format!("{frac:0<exp$}");
        let frac: i64 = if exp == 0 {
            0
        } else {
            frac_padded.parse().map_err(|_| bad())?
        };
        let minor = whole
            .checked_mul(10i64.pow(exp as u32))
            .and_then(|w| w.checked_add(frac))
            .ok_or_else(overflow)?;
        Ok(Money {
            minor: if negative { -minor } else { minor },
            currency,
        })
    }

    fn same_currency(self, other: Money) -> Result<(), DomainError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(DomainError::InvalidAmount(format!(
                "cannot combine {} with {}: the amounts are in different currencies.",
                self, other
            )))
        }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, DomainError> {
        self.same_currency(other)?;
        self.minor
            .checked_add(other.minor)
            .map(|minor| Money { minor, ..self })
            .ok_or_else(|| DomainError::Overflow(format!("{self} + {other} overflows.")))
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, DomainError> {
        self.same_currency(other)?;
        self.minor
            .checked_sub(other.minor)
            .map(|minor| Money { minor, ..self })
            .ok_or_else(|| DomainError::Overflow(format!("{self} - {other} overflows.")))
    }

    pub fn checked_mul(self, factor: i64) -> Result<Money, DomainError> {
        self.minor
            .checked_mul(factor)
            .map(|minor| Money { minor, ..self })
            .ok_or_else(|| DomainError::Overflow(format!("{self} × {factor} overflows.")))
    }

    /// The amount without symbol or grouping, as gateways and CSV want it: "1234.50".
    pub fn plain(self) -> String {
        let exp = self.currency.exponent();
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        if exp == 0 {
            return format!("{sign}{abs}");
        }
        let div = 10u64.pow(exp);
        format!(
            "{sign}{}.{:0width$}",
            abs / div,
            abs % div,
            width = exp as usize
        )
    }
}

impl fmt::Display for Money {
    /// "$1,234.50" — what staff and patients read.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = self.plain();
        let (sign, digits) = match plain.strip_prefix('-') {
            Some(rest) => ("-", rest),
            None => ("", plain.as_str()),
        };
        let (whole, frac) = match digits.split_once('.') {
            Some((w, fr)) => (w, Some(fr)),
            None => (digits, None),
        };
        let mut grouped = String::new();
        for (i, ch) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        write!(f, "{sign}{}{grouped}", self.currency.symbol())?;
        if let Some(frac) = frac {
            write!(f, ".{frac}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(s: &str) -> Result<Money, DomainError> {
        Money::parse(s, Currency::USD)
    }

    #[test]
    fn parses_what_staff_type_into_exact_minor_units() {
        assert_eq!(usd("12.34").unwrap().minor, 1234);
        assert_eq!(usd("12").unwrap().minor, 1200);
        assert_eq!(usd("12.3").unwrap().minor, 1230);
        assert_eq!(usd(".05").unwrap().minor, 5);
        assert_eq!(usd("$1,234.50").unwrap().minor, 123450);
        assert_eq!(usd(" 0.01 ").unwrap().minor, 1);
        assert_eq!(usd("-3.00").unwrap().minor, -300);
        assert_eq!(Money::parse("500", Currency::JPY).unwrap().minor, 500);
    }

    #[test]
    fn refuses_amounts_that_are_not_exact() {
        for bad in [
            "", "abc", "12.345", "1e3", "12..3", "12.3.4", "$", "1 2", "0x10", ".",
        ] {
            let err = usd(bad).unwrap_err();
            assert!(
                err.to_string().contains("is not an amount"),
                "{bad:?} gave {err}"
            );
        }
        assert!(Money::parse("5.5", Currency::JPY).is_err());
        assert!(matches!(
            usd("99999999999999999999"),
            Err(DomainError::Overflow(_))
        ));
    }

    #[test]
    fn formats_for_people_and_for_gateways() {
        assert_eq!(usd("12.34").unwrap().to_string(), "$12.34");
        assert_eq!(usd("1234567.5").unwrap().to_string(), "$1,234,567.50");
        assert_eq!(usd("0.07").unwrap().to_string(), "$0.07");
        assert_eq!(usd("-5").unwrap().to_string(), "-$5.00");
        assert_eq!(usd("1234.5").unwrap().plain(), "1234.50");
        assert_eq!(Money::from_minor(1500, Currency::JPY).to_string(), "¥1,500");
        assert_eq!(Money::from_minor(999, Currency::GBP).to_string(), "£9.99");
    }

    #[test]
    fn arithmetic_is_checked_and_never_mixes_currencies() {
        let a = usd("10.00").unwrap();
        let b = usd("0.01").unwrap();
        assert_eq!(a.checked_add(b).unwrap().minor, 1001);
        assert_eq!(a.checked_sub(b).unwrap().minor, 999);
        assert_eq!(b.checked_mul(3).unwrap().minor, 3);
        let eur = Money::from_minor(100, Currency::EUR);
        assert!(a.checked_add(eur).is_err());
        let max = Money::from_minor(i64::MAX, Currency::USD);
        assert!(matches!(max.checked_add(b), Err(DomainError::Overflow(_))));
        assert!(max.checked_mul(2).is_err());
    }

    #[test]
    fn serialises_as_minor_units_and_currency_code() {
        let json = serde_json::to_string(&usd("12.34").unwrap()).unwrap();
        assert_eq!(json, r#"{"minor":1234,"currency":"USD"}"#);
        let back: Money = serde_json::from_str(&json).unwrap();
        assert_eq!(back, usd("12.34").unwrap());
    }
}

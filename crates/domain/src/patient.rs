//! Patients: who the cards and payments belong to.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::{DomainError, PatientId};

/// Document 000's "Customer Type" filter: individual or business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum PatientType {
    Individual,
    Business,
}

impl PatientType {
    pub fn as_str(self) -> &'static str {
        match self {
            PatientType::Individual => "individual",
            PatientType::Business => "business",
        }
    }
}

impl fmt::Display for PatientType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PatientType {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "individual" => Ok(PatientType::Individual),
            "business" => Ok(PatientType::Business),
            other => Err(DomainError::InvalidPatient(format!(
                "\"{other}\" is not a patient type: use individual or business."
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Patient {
    pub id: PatientId,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub patient_type: PatientType,
    pub created_at: DateTime<Utc>,
}

/// A patient as staff type them in, checked before anything is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPatient {
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub patient_type: PatientType,
}

impl NewPatient {
    /// Trims what was typed and checks it; returns the tidy version.
    pub fn validated(self) -> Result<NewPatient, DomainError> {
        let name = self.name.split_whitespace().collect::<Vec<_>>().join(" ");
        if name.is_empty() {
            return Err(DomainError::InvalidPatient(
                "the patient's name is required.".into(),
            ));
        }
        if name.chars().count() > 200 {
            return Err(DomainError::InvalidPatient(
                "the patient's name is too long: keep it under 200 characters.".into(),
            ));
        }
        let email = self.email.trim().to_owned();
        let valid_email = match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !email.contains(char::is_whitespace)
            }
            None => false,
        };
        if !valid_email {
            return Err(DomainError::InvalidPatient(format!(
                "\"{email}\" is not an email address: check it with the patient (like name@example.com)."
            )));
        }
        let phone = match self
            .phone
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
        {
            None => None,
            Some(p) => {
                let digits = phone_digits(&p);
                let allowed = p
                    .chars()
                    .all(|c| c.is_ascii_digit() || " +-().".contains(c));
                if !allowed || !(7..=15).contains(&digits.len()) {
                    return Err(DomainError::InvalidPatient(format!(
                        "\"{p}\" is not a phone number: use 7 to 15 digits, like +1 555 123 4567."
                    )));
                }
                Some(p)
            }
        };
        Ok(NewPatient {
            name,
            email,
            phone,
            patient_type: self.patient_type,
        })
    }
}

/// The digits of a phone number, for search.
pub fn phone_digits(p: &str) -> String {
    p.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(name: &str, email: &str, phone: Option<&str>) -> Result<NewPatient, DomainError> {
        NewPatient {
            name: name.into(),
            email: email.into(),
            phone: phone.map(Into::into),
            patient_type: PatientType::Individual,
        }
        .validated()
    }

    #[test]
    fn a_patient_needs_a_name_and_a_real_email() {
        assert_eq!(
            new("  John   Smith ", "john@example.com", None)
                .unwrap()
                .name,
            "John Smith"
        );
        assert!(new(" ", "john@example.com", None).is_err());
        for bad in [
            "john",
            "john@",
            "@example.com",
            "john@example",
            "jo hn@example.com",
        ] {
            assert!(new("John", bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn phone_numbers_are_checked_but_kept_as_typed() {
        let p = new("Jane", "jane@example.com", Some("+1 (555) 123-4567")).unwrap();
        assert_eq!(p.phone.as_deref(), Some("+1 (555) 123-4567"));
        assert_eq!(phone_digits(p.phone.as_deref().unwrap()), "15551234567");
        assert!(new("Jane", "jane@example.com", Some("12")).is_err());
        assert!(new("Jane", "jane@example.com", Some("555-CALL-NOW")).is_err());
        assert_eq!(
            new("Jane", "jane@example.com", Some("  ")).unwrap().phone,
            None
        );
    }
}

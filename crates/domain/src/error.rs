use thiserror::Error;

/// A rule of the product documents was broken. Each variant's message is a sentence staff can act on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("{0}")]
    InvalidAmount(String),
    #[error("{0}")]
    InvalidCard(String),
    #[error("{0}")]
    CardRule(String),
    #[error("{0}")]
    InvalidPatient(String),
    #[error("{0}")]
    InvalidSetting(String),
    #[error("{0}")]
    InvalidTransition(String),
    #[error("{0}")]
    Overflow(String),
}

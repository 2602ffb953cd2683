//! Input errors: which field is wrong and why. The binding turns them into `ValueError`.

use std::fmt;

/// A request outside the contract, e.g. `lines[3].qty: must be 1..999`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The field's path in the request, such as `coupons[2].percent_off`.
    pub field: String,
    pub message: String,
}

impl InputError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        InputError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for InputError {}

//! `gateway._native`: the Rust core of the redemption gateway.
//!
//! Every module except `python`, `python_claims` and `python_pricing` is plain Rust with no PyO3 types; those
//! convert.

// `#[pyfunction]` expands to a `PyErr` -> `PyErr` conversion that recent clippy flags at the
// crate level (PyO3 0.23 fixes it); there is nothing to change in our code.
#![allow(clippy::useless_conversion)]

pub mod claimpipe;
pub mod codes;
pub mod pricing;
mod python;
mod python_claims;
mod python_pricing;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    python::register(m)?;
    python_claims::register(m)?;
    python_pricing::register(m)
}

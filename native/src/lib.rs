//! `gateway._native`: the Rust core of the redemption gateway.
//!
//! Every module except `python` is plain Rust with no PyO3 types; `python` converts.

pub mod codes;
mod python;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    python::register(m)
}

//! The binding layer: converts between Python objects and the pure Rust core.

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;

use crate::codes;

fn code_error(err: codes::CodeError) -> PyErr {
    match err {
        codes::CodeError::Rng => PyOSError::new_err(err.to_string()),
        other => PyValueError::new_err(other.to_string()),
    }
}

/// A new random coupon code (Crockford base32 with a check symbol).
#[pyfunction]
fn new_code() -> PyResult<String> {
    codes::new_code().map_err(code_error)
}

/// `count` new codes at once (one call for a batch of claims).
#[pyfunction]
fn new_codes(count: usize) -> PyResult<Vec<String>> {
    (0..count)
        .map(|_| codes::new_code().map_err(code_error))
        .collect()
}

/// The canonical form of a typed code; `ValueError` when it is not a valid code.
#[pyfunction]
#[pyo3(signature = (text, /))]
fn normalize_code(text: &str) -> PyResult<String> {
    codes::normalize_code(text).map_err(code_error)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(new_code, m)?)?;
    m.add_function(wrap_pyfunction!(new_codes, m)?)?;
    m.add_function(wrap_pyfunction!(normalize_code, m)?)?;
    Ok(())
}

//! Binding of the pricing engine: a request dict in, a `Quote` out (`price_quote`).
//!
//! Conversion reads the dicts directly (interned keys, no intermediate JSON) and checks every
//! field as it goes, so bad input becomes a `ValueError` naming the first bad field in document
//! order, e.g. `lines[3].qty: must be 1..999`. The core runs inside `catch_unwind`: a bug can
//! only surface as a `RuntimeError`, never as a panic crossing into Python.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyList, PyString, PyTuple};
use pyo3::{intern, IntoPy, PyTypeInfo};

use crate::pricing::validate::{
    check_code_count, check_coupon, check_line, check_line_count, check_member,
};
use crate::pricing::{
    json, price_within, Candidate, Channel, Coupon, CouponKind, CouponState, InputError, Line,
    LineShare, Member, Quote, Request, Text, QUOTE_FIELDS, WORK_BUDGET,
};

/// Where a field sits in the request; formatted only when there is an error to report.
#[derive(Clone, Copy)]
enum Path {
    Top(&'static str),
    Line(usize, &'static str),
    Member(&'static str),
    Coupon(usize, &'static str),
    CouponItem(usize, &'static str, usize),
    Item(&'static str, usize),
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Top(name) => write!(f, "{name}"),
            Path::Line(i, name) => write!(f, "lines[{i}].{name}"),
            Path::Member(name) => write!(f, "member.{name}"),
            Path::Coupon(i, name) => write!(f, "coupons[{i}].{name}"),
            Path::CouponItem(i, name, j) => write!(f, "coupons[{i}].{name}[{j}]"),
            Path::Item(list, i) => write!(f, "{list}[{i}]"),
        }
    }
}

fn err(path: Path, message: &str) -> InputError {
    InputError::new(path.to_string(), message)
}

type Field<T> = Result<T, InputError>;

/// `obj` as a `T`. The module is built for CPython 3.11 itself, not the stable ABI, so PyO3's
/// type checks and reference counts are inline code, not calls into libpython: the raw-FFI reads
/// this file once used to avoid those calls measured no faster (docs/PERFORMANCE.md).
fn cast<'a, 'py, T: PyTypeInfo>(obj: &'a Bound<'py, PyAny>) -> Option<&'a Bound<'py, T>> {
    obj.downcast::<T>().ok()
}

fn as_dict<'a, 'py>(obj: &'a Bound<'py, PyAny>, path: Path) -> Field<&'a Bound<'py, PyDict>> {
    cast::<PyDict>(obj).ok_or_else(|| err(path, "must be a dict"))
}

fn item<'py>(
    dict: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
    path: Path,
) -> Field<Option<Bound<'py, PyAny>>> {
    dict.get_item(key)
        .map_err(|_| err(path, "could not be read"))
}

fn required<'py>(
    dict: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
    path: Path,
) -> Field<Bound<'py, PyAny>> {
    item(dict, key, path)?.ok_or_else(|| err(path, "missing"))
}

fn int(obj: &Bound<'_, PyAny>, path: Path) -> Field<i64> {
    // An exact int (what msgspec gives) skips the subclass tests.
    if !obj.is_exact_instance_of::<PyInt>()
        && (obj.is_instance_of::<PyBool>() || !obj.is_instance_of::<PyInt>())
    {
        return Err(err(path, "must be an integer"));
    }
    obj.extract::<i64>()
        .map_err(|_| err(path, "must be a 64-bit integer"))
}

fn boolean(obj: &Bound<'_, PyAny>, path: Path) -> Field<bool> {
    obj.downcast::<PyBool>()
        .map(|b| b.is_true())
        .map_err(|_| err(path, "must be a bool"))
}

/// Looks `key` up and lets `read` see the value (absent: `None`).
fn with_item<'py, T>(
    dict: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
    path: Path,
    read: impl FnOnce(Option<&Bound<'py, PyAny>>) -> Field<T>,
) -> Field<T> {
    match dict.get_item(key) {
        Ok(value) => read(value.as_ref()),
        Err(_) => Err(err(path, "could not be read")),
    }
}

fn int_at(dict: &Bound<'_, PyDict>, key: &Bound<'_, PyString>, path: Path) -> Field<i64> {
    with_item(dict, key, path, |o| {
        int(o.ok_or_else(|| err(path, "missing"))?, path)
    })
}

fn optional_int_at(
    dict: &Bound<'_, PyDict>,
    key: &Bound<'_, PyString>,
    path: Path,
) -> Field<Option<i64>> {
    with_item(dict, key, path, |o| match o {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => int(o, path).map(Some),
    })
}

fn bool_at(dict: &Bound<'_, PyDict>, key: &Bound<'_, PyString>, path: Path) -> Field<bool> {
    with_item(dict, key, path, |o| {
        boolean(o.ok_or_else(|| err(path, "missing"))?, path)
    })
}

fn text_at<'py>(
    dict: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
    path: Path,
    echo: &mut Echo<'py>,
) -> Field<Text<'py>> {
    with_item(dict, key, path, |o| {
        text(o.ok_or_else(|| err(path, "missing"))?, path, echo)
    })
}

fn optional_text_at<'py>(
    dict: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
    path: Path,
    echo: &mut Echo<'py>,
) -> Field<Option<Text<'py>>> {
    with_item(dict, key, path, |o| match o {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => text(o, path, echo).map(Some),
    })
}

/// The Python objects a parsed request leans on: the strings it borrows, and the sku and code
/// objects the quote echoes (no new strings for them).
struct Echo<'py> {
    /// A strong reference to every string the request borrows its text from, so no Python code
    /// that runs during the call (say a key's `__eq__`) can free one under the engine; the skus
    /// and codes are held by `skus` and `codes` instead (one reference each, see `kept_text`).
    held: Vec<Bound<'py, PyString>>,
    skus: Vec<Py<PyString>>,
    codes: Vec<Py<PyString>>,
}

/// A request whose text borrows from the caller's strings, with the references keeping them
/// alive. The request is only reachable through `request()`, whose borrow ends before `echo`
/// can be dropped.
struct Parsed<'py> {
    request: Request<'py>,
    echo: Echo<'py>,
}

impl Parsed<'_> {
    fn request(&self) -> &Request<'_> {
        &self.request
    }
}

fn text<'py>(obj: &Bound<'py, PyAny>, path: Path, echo: &mut Echo<'py>) -> Field<Text<'py>> {
    let borrowed = utf8(obj, path)?;
    // SAFETY: a `str` object never changes and keeps its UTF-8 (the characters themselves, or
    // the encoding `PyUnicode_AsUTF8AndSize` caches in it) until it is freed; `echo.held` keeps
    // it alive for as long as the `Parsed` holding this request, and `Parsed` lends the request
    // out only for a borrow of itself.
    let borrowed: &'py str = unsafe { &*(borrowed as *const str) };
    echo.held.push(
        obj.clone()
            .downcast_into::<PyString>()
            .map_err(|_| err(path, "must be a string"))?,
    );
    Ok(Text::Borrowed(borrowed))
}

/// The UTF-8 of a str, for as long as the borrow of `obj`.
fn utf8<'a>(obj: &'a Bound<'_, PyAny>, path: Path) -> Field<&'a str> {
    let s = cast::<PyString>(obj).ok_or_else(|| err(path, "must be a string"))?;
    s.to_str()
        .map_err(|_| err(path, "must be valid UTF-8 text"))
}

/// `text` for a str the caller keeps itself (a sku or a code, which the quote echoes): the
/// reference that keeps it alive is the one returned, not another in `echo.held`.
fn kept_text<'py>(obj: Bound<'py, PyAny>, path: Path) -> Field<(Text<'py>, Py<PyString>)> {
    let borrowed = utf8(&obj, path)?;
    // SAFETY: as in `text`; the caller keeps the returned reference in `echo.skus` or
    // `echo.codes`, which live as long as `echo.held`, before it lends the request out.
    let borrowed: &'py str = unsafe { &*(borrowed as *const str) };
    let kept = obj
        .downcast_into::<PyString>()
        .map_err(|_| err(path, "must be a string"))?
        .unbind();
    Ok((Text::Borrowed(borrowed), kept))
}

/// A text field read only to pick one of a few values (`channel`, `state`, `kind`): read
/// borrowed, as `with_item`, and not kept.
fn choice_at<T>(
    dict: &Bound<'_, PyDict>,
    key: &Bound<'_, PyString>,
    path: Path,
    parse: fn(&str) -> Option<T>,
    message: &str,
) -> Field<T> {
    with_item(dict, key, path, |o| {
        let text = utf8(o.ok_or_else(|| err(path, "missing"))?, path)?;
        parse(text).ok_or_else(|| err(path, message))
    })
}

fn optional_text<'py>(
    obj: Option<Bound<'py, PyAny>>,
    path: Path,
    echo: &mut Echo<'py>,
) -> Field<Option<Text<'py>>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => text(&o, path, echo).map(Some),
    }
}

/// A list or tuple, as its items.
fn sequence<'py>(obj: &Bound<'py, PyAny>, path: Path) -> Field<Vec<Bound<'py, PyAny>>> {
    if let Some(list) = cast::<PyList>(obj) {
        return Ok(list.iter().collect());
    }
    if let Some(tuple) = cast::<PyTuple>(obj) {
        return Ok(tuple.iter().collect());
    }
    Err(err(path, "must be a list"))
}

/// The list of texts at `key` of a coupon dict (absent: empty), read borrowed as `with_item`.
fn texts_at<'py>(
    d: &Bound<'py, PyDict>,
    key: &Bound<'py, PyString>,
    index: usize,
    name: &'static str,
    echo: &mut Echo<'py>,
) -> Field<Vec<Text<'py>>> {
    with_item(d, key, Path::Coupon(index, name), |o| match o {
        None => Ok(Vec::new()),
        Some(o) => texts(o, index, name, echo),
    })
}

fn texts<'py>(
    obj: &Bound<'py, PyAny>,
    index: usize,
    name: &'static str,
    echo: &mut Echo<'py>,
) -> Field<Vec<Text<'py>>> {
    let item = |j| Path::CouponItem(index, name, j);
    // Lists (what msgspec gives) are read in place, each item borrowed from the list (as in
    // `with_item`: `text` runs no Python code, and takes its own reference to what it keeps);
    // a tuple goes through `sequence`.
    if let Some(list) = cast::<PyList>(obj) {
        let mut out = Vec::with_capacity(list.len());
        for (j, o) in list.iter().enumerate() {
            out.push(text(&o, item(j), echo)?);
        }
        return Ok(out);
    }
    let items = sequence(obj, Path::Coupon(index, name))?;
    let mut out = Vec::with_capacity(items.len());
    for (j, o) in items.iter().enumerate() {
        out.push(text(o, item(j), echo)?);
    }
    Ok(out)
}

fn parse_line<'py>(obj: &Bound<'py, PyAny>, i: usize, echo: &mut Echo<'py>) -> Field<Line<'py>> {
    let py = obj.py();
    let d = as_dict(obj, Path::Item("lines", i))?;
    let sku_obj = required(d, intern!(py, "sku"), Path::Line(i, "sku"))?;
    let (sku, sku_obj) = kept_text(sku_obj, Path::Line(i, "sku"))?;
    let category = text_at(d, intern!(py, "category"), Path::Line(i, "category"), echo)?;
    let unit_price = int_at(d, intern!(py, "unit_price"), Path::Line(i, "unit_price"))?;
    let qty = int_at(d, intern!(py, "qty"), Path::Line(i, "qty"))?;
    // Absent: 1 (a line without a programme multiplier); present, it must be an int (not None).
    let multiplier_path = Path::Line(i, "points_multiplier");
    let points_multiplier = with_item(d, intern!(py, "points_multiplier"), multiplier_path, |o| {
        o.map_or(Ok(1), |o| int(o, multiplier_path))
    })?;
    let line = Line {
        sku,
        category,
        unit_price,
        qty,
        points_multiplier,
    };
    check_line(i, &line)?;
    echo.skus.push(sku_obj);
    Ok(line)
}

fn parse_member(obj: &Bound<'_, PyAny>) -> Field<Member> {
    let py = obj.py();
    let d = as_dict(obj, Path::Top("member"))?;
    let p = Path::Member;
    let member = Member {
        tier_percent_off: int_at(d, intern!(py, "tier_percent_off"), p("tier_percent_off"))?,
        birthday_percent_off: int_at(
            d,
            intern!(py, "birthday_percent_off"),
            p("birthday_percent_off"),
        )?,
        is_birthday: bool_at(d, intern!(py, "is_birthday"), p("is_birthday"))?,
        coupons_on_member_price: bool_at(
            d,
            intern!(py, "coupons_on_member_price"),
            p("coupons_on_member_price"),
        )?,
        points_per_yuan: int_at(d, intern!(py, "points_per_yuan"), p("points_per_yuan"))?,
    };
    check_member(&member)?;
    Ok(member)
}

const STATES: &str = "must be one of active, reserved, redeemed, expired, transferred, revoked";
const KINDS: &str = "must be one of percent, amount, threshold, exchange, gift, points";

fn parse_candidate<'py>(
    obj: &Bound<'py, PyAny>,
    i: usize,
    echo: &mut Echo<'py>,
) -> Field<Candidate<'py>> {
    let py = obj.py();
    let d = as_dict(obj, Path::Item("coupons", i))?;
    let p = |name| Path::Coupon(i, name);
    let code_obj = required(d, intern!(py, "code"), p("code"))?;
    let (code, code_obj) = kept_text(code_obj, p("code"))?;
    let found = bool_at(d, intern!(py, "found"), p("found"))?;
    echo.codes.push(code_obj);
    if !found {
        return Ok(Candidate { code, coupon: None });
    }
    let owner_matches = bool_at(d, intern!(py, "owner_matches"), p("owner_matches"))?;
    let state = choice_at(
        d,
        intern!(py, "state"),
        p("state"),
        CouponState::parse,
        STATES,
    )?;
    let kind = choice_at(d, intern!(py, "kind"), p("kind"), CouponKind::parse, KINDS)?;
    let coupon = Coupon {
        owner_matches,
        state,
        kind,
        amount_off: optional_int_at(d, intern!(py, "amount_off"), p("amount_off"))?,
        percent_off: optional_int_at(d, intern!(py, "percent_off"), p("percent_off"))?,
        max_discount: optional_int_at(d, intern!(py, "max_discount"), p("max_discount"))?,
        min_spend: optional_int_at(d, intern!(py, "min_spend"), p("min_spend"))?,
        sku: optional_text_at(d, intern!(py, "sku"), p("sku"), echo)?,
        points: optional_int_at(d, intern!(py, "points"), p("points"))?,
        scope_skus: texts_at(d, intern!(py, "scope_skus"), i, "scope_skus", echo)?,
        scope_categories: texts_at(
            d,
            intern!(py, "scope_categories"),
            i,
            "scope_categories",
            echo,
        )?,
        scope_stores: texts_at(d, intern!(py, "scope_stores"), i, "scope_stores", echo)?,
        channels: texts_at(d, intern!(py, "channels"), i, "channels", echo)?,
        valid_from: int_at(d, intern!(py, "valid_from"), p("valid_from"))?,
        valid_until: int_at(d, intern!(py, "valid_until"), p("valid_until"))?,
        stackable: bool_at(d, intern!(py, "stackable"), p("stackable"))?,
    };
    check_coupon(i, &coupon)?;
    Ok(Candidate {
        code,
        coupon: Some(coupon),
    })
}

fn parse_request<'py>(obj: &Bound<'py, PyAny>) -> Field<Parsed<'py>> {
    let py = obj.py();
    let d = cast::<PyDict>(obj).ok_or_else(|| InputError::new("request", "must be a dict"))?;
    let top = Path::Top;
    let mut echo = Echo {
        // Room for the strings of a 20-line cart with 8 codes, so that one usually needs no
        // regrowth (each cost a realloc).
        held: Vec::with_capacity(128),
        skus: Vec::new(),
        codes: Vec::new(),
    };
    let now = int_at(d, intern!(py, "now"), top("now"))?;
    let channel = choice_at(
        d,
        intern!(py, "channel"),
        top("channel"),
        Channel::parse,
        "must be 'online' or 'store'",
    )?;
    let store_id = optional_text(
        item(d, intern!(py, "store_id"), top("store_id"))?,
        top("store_id"),
        &mut echo,
    )?;
    let line_objs = sequence(
        &required(d, intern!(py, "lines"), top("lines"))?,
        top("lines"),
    )?;
    check_line_count(line_objs.len())?;
    echo.skus.reserve_exact(line_objs.len());
    // A sku and a category per line; a code, state, kind and a few scope texts per coupon.
    echo.held.reserve(2 + 2 * line_objs.len());
    let mut lines = Vec::with_capacity(line_objs.len());
    for (i, o) in line_objs.iter().enumerate() {
        lines.push(parse_line(o, i, &mut echo)?);
    }
    let member = parse_member(&required(d, intern!(py, "member"), top("member"))?)?;
    let coupon_objs = match item(d, intern!(py, "coupons"), top("coupons"))? {
        None => Vec::new(),
        Some(o) => sequence(&o, top("coupons"))?,
    };
    check_code_count(coupon_objs.len())?;
    echo.codes.reserve_exact(coupon_objs.len());
    echo.held.reserve(6 * coupon_objs.len());
    let mut coupons = Vec::with_capacity(coupon_objs.len());
    for (i, o) in coupon_objs.iter().enumerate() {
        coupons.push(parse_candidate(o, i, &mut echo)?);
    }
    let request = Request {
        now,
        channel,
        store_id,
        lines,
        member,
        coupons,
    };
    Ok(Parsed { request, echo })
}

fn run_core(request: &Request, budget: u64) -> PyResult<Quote> {
    catch_unwind(AssertUnwindSafe(|| price_within(request, budget)))
        .map_err(|_| PyRuntimeError::new_err("the pricing engine failed on this request (a bug)"))
}

/// `run_core` with the GIL released: a hard cart takes up to the work budget (tens of ms), and
/// the other requests of the process must not wait for it. The request borrows the caller's
/// strings, which `Parsed` keeps alive, and the engine runs no Python code.
fn run_core_released(py: Python<'_>, request: &Request, budget: u64) -> PyResult<Quote> {
    py.allow_threads(|| run_core(request, budget))
}

/// `dict[key] = value`; the dict takes its own references.
fn put<T>(
    dict: &Bound<'_, PyDict>,
    key: &Bound<'_, PyString>,
    value: &Bound<'_, T>,
) -> PyResult<()> {
    dict.set_item(key, value)
}

fn put_int(dict: &Bound<'_, PyDict>, key: &Bound<'_, PyString>, value: i64) -> PyResult<()> {
    put(dict, key, value.into_py(dict.py()).bind(dict.py()))
}

/// A list of exactly `items`.
fn list_of<'py, I>(py: Python<'py>, items: I) -> PyResult<Bound<'py, PyList>>
where
    I: ExactSizeIterator<Item = PyResult<Bound<'py, PyDict>>>,
{
    let items = items.collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new_bound(py, items))
}

fn shares_to_py<'py>(
    py: Python<'py>,
    shares: &[LineShare],
    skus: &[Py<PyString>],
) -> PyResult<Bound<'py, PyList>> {
    let (line, sku, discount) = (
        intern!(py, "line"),
        intern!(py, "sku"),
        intern!(py, "discount"),
    );
    list_of(
        py,
        shares.iter().map(|share| {
            let d = PyDict::new_bound(py);
            put_int(&d, line, share.line as i64)?;
            put(&d, sku, skus[share.line].bind(py))?;
            put_int(&d, discount, share.discount)?;
            Ok(d)
        }),
    )
}

fn applied_to_py<'py>(
    py: Python<'py>,
    quote: &Quote,
    skus: &[Py<PyString>],
    codes: &[Py<PyString>],
) -> PyResult<Bound<'py, PyList>> {
    list_of(
        py,
        quote.applied.iter().map(|a| {
            let d = PyDict::new_bound(py);
            put(&d, intern!(py, "code"), codes[a.coupon].bind(py))?;
            put_int(&d, intern!(py, "discount"), a.discount)?;
            put(&d, intern!(py, "lines"), &shares_to_py(py, &a.lines, skus)?)?;
            d.set_item(intern!(py, "gift_sku"), a.gift_sku.as_deref())?;
            put_int(&d, intern!(py, "points"), a.points)?;
            Ok(d)
        }),
    )
}

fn rejected_to_py<'py>(
    py: Python<'py>,
    quote: &Quote,
    codes: &[Py<PyString>],
) -> PyResult<Bound<'py, PyList>> {
    list_of(
        py,
        quote.rejected.iter().map(|r| {
            let d = PyDict::new_bound(py);
            put(&d, intern!(py, "code"), codes[r.coupon].bind(py))?;
            put(
                &d,
                intern!(py, "reason"),
                &PyString::intern_bound(py, r.reason.as_str()),
            )?;
            Ok(d)
        }),
    )
}

fn quote_to_py<'py>(
    py: Python<'py>,
    quote: &Quote,
    skus: &[Py<PyString>],
    codes: &[Py<PyString>],
) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new_bound(py);
    put_int(&out, intern!(py, "subtotal"), quote.subtotal)?;
    put_int(&out, intern!(py, "member_discount"), quote.member_discount)?;
    put(
        &out,
        intern!(py, "member_lines"),
        &shares_to_py(py, &quote.member_lines, skus)?,
    )?;
    put_int(&out, intern!(py, "coupon_discount"), quote.coupon_discount)?;
    put_int(&out, intern!(py, "total"), quote.total)?;
    put(
        &out,
        intern!(py, "points_earned"),
        quote.points_earned.into_py(py).bind(py),
    )?;
    put(
        &out,
        intern!(py, "applied"),
        &applied_to_py(py, quote, skus, codes)?,
    )?;
    put(
        &out,
        intern!(py, "rejected"),
        &rejected_to_py(py, quote, codes)?,
    )?;
    put(
        &out,
        intern!(py, "search"),
        &PyString::intern_bound(py, quote.search.as_str()),
    )?;
    Ok(out)
}

/// A priced cart as one native object (`price_quote`): the totals are read from the engine's
/// own result, the lists become Python objects only when first read (then kept), and `to_json`
/// writes the checkout quote's JSON straight from the engine's result. A caller that needs the
/// totals or the wire bytes so pays for one object instead of a hundred dicts.
#[pyclass(frozen, module = "gateway._native", name = "Quote")]
pub struct PyQuote {
    quote: Quote,
    /// The sku of each request line and each code of the request, as the caller's own strings.
    skus: Vec<Py<PyString>>,
    codes: Vec<Py<PyString>>,
    member_lines: GILOnceCell<Py<PyList>>,
    applied: GILOnceCell<Py<PyList>>,
    rejected: GILOnceCell<Py<PyList>>,
}

#[pymethods]
impl PyQuote {
    /// The wire fields, in order (`QUOTE_FIELDS`): the keys of `to_dict()` and `to_json()`.
    #[classattr]
    #[pyo3(name = "FIELDS")]
    fn fields(py: Python<'_>) -> Py<PyTuple> {
        PyTuple::new_bound(py, QUOTE_FIELDS).unbind()
    }

    #[getter]
    fn subtotal(&self) -> i64 {
        self.quote.subtotal
    }

    #[getter]
    fn member_discount(&self) -> i64 {
        self.quote.member_discount
    }

    #[getter]
    fn coupon_discount(&self) -> i64 {
        self.quote.coupon_discount
    }

    #[getter]
    fn total(&self) -> i64 {
        self.quote.total
    }

    #[getter]
    fn points_earned(&self) -> i128 {
        self.quote.points_earned
    }

    /// `"exact"`: the chosen set is the best; `"bounded"`: the search stopped at its work budget
    /// and this is the best set it found.
    #[getter]
    fn search(&self) -> &'static str {
        self.quote.search.as_str()
    }

    /// The engine's work on this cart, in line operations: deterministic, what the budget counts.
    #[getter]
    fn work(&self) -> u64 {
        self.quote.work
    }

    /// The member discount's shares, `[{"line", "sku", "discount"}]`; built on first read and
    /// then the same list every time (read it, do not change it: `to_dict()` gives a copy).
    #[getter]
    fn member_lines(&self, py: Python<'_>) -> PyResult<Py<PyList>> {
        self.member_lines
            .get_or_try_init(py, || {
                Ok::<_, PyErr>(shares_to_py(py, &self.quote.member_lines, &self.skus)?.unbind())
            })
            .map(|l| l.clone_ref(py))
    }

    /// `[{"code", "discount", "lines", "gift_sku", "points"}]`, as `member_lines`.
    #[getter]
    fn applied(&self, py: Python<'_>) -> PyResult<Py<PyList>> {
        self.applied
            .get_or_try_init(py, || {
                Ok::<_, PyErr>(applied_to_py(py, &self.quote, &self.skus, &self.codes)?.unbind())
            })
            .map(|l| l.clone_ref(py))
    }

    /// `[{"code", "reason"}]`, as `member_lines`.
    #[getter]
    fn rejected(&self, py: Python<'_>) -> PyResult<Py<PyList>> {
        self.rejected
            .get_or_try_init(py, || {
                Ok::<_, PyErr>(rejected_to_py(py, &self.quote, &self.codes)?.unbind())
            })
            .map(|l| l.clone_ref(py))
    }

    /// Codes that apply, in request order (no dicts built).
    #[getter]
    fn applied_codes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let codes = self
            .quote
            .applied
            .iter()
            .map(|a| self.codes[a.coupon].bind(py));
        Ok(PyTuple::new_bound(py, codes))
    }

    /// Whether every code of the request applies (what a redemption requires).
    fn all_apply(&self) -> bool {
        self.quote.rejected.is_empty()
    }

    /// The quote as a new dict, every call (keys: `FIELDS`).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        quote_to_py(py, &self.quote, &self.skus, &self.codes)
    }

    /// The checkout quote's JSON (API.md), byte for byte what `msgspec.json.encode` gives for
    /// `gateway.checkout.schemas.Quote` built from `to_dict()`.
    fn to_json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let skus = self
            .skus
            .iter()
            .map(|s| s.bind(py).to_str())
            .collect::<PyResult<Vec<&str>>>()?;
        let codes = self
            .codes
            .iter()
            .map(|s| s.bind(py).to_str())
            .collect::<PyResult<Vec<&str>>>()?;
        let mut out = Vec::new();
        json::write_quote(&mut out, &skus, &codes, &self.quote);
        Ok(PyBytes::new_bound(py, &out))
    }

    fn __repr__(&self) -> String {
        format!(
            "Quote(subtotal={}, member_discount={}, coupon_discount={}, total={}, applied={}, \
             rejected={})",
            self.quote.subtotal,
            self.quote.member_discount,
            self.quote.coupon_discount,
            self.quote.total,
            self.quote.applied.len(),
            self.quote.rejected.len()
        )
    }
}

fn value_error(e: InputError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Prices one cart (docs/PRICING.md: the request dict, and the `Quote` answered): the one
/// pricing entry of the shipped module, for the quote and the reserve alike. `work_budget` is
/// for the tests of the bounded search; production leaves it at `WORK_BUDGET`.
#[pyfunction]
#[pyo3(signature = (request, /, *, work_budget = WORK_BUDGET))]
fn price_quote(request: &Bound<'_, PyAny>, work_budget: u64) -> PyResult<PyQuote> {
    let mut parsed = parse_request(request).map_err(value_error)?;
    let quote = run_core_released(request.py(), parsed.request(), work_budget)?;
    Ok(PyQuote {
        quote,
        skus: std::mem::take(&mut parsed.echo.skus),
        codes: std::mem::take(&mut parsed.echo.codes),
        member_lines: GILOnceCell::new(),
        applied: GILOnceCell::new(),
        rejected: GILOnceCell::new(),
    })
}

/// Entry points for loadtests/bench_pricing.py only, built with `--features bench` (never in the
/// shipped module or its `.pyi`): the dict answer, a batch, and the pieces of a call's cost.
#[cfg(feature = "bench")]
mod bench {
    use std::time::Instant;

    use pyo3::ffi;

    use super::*;
    use crate::pricing::price_valid;

    /// Prices one cart and answers the quote dict (`price_quote(request).to_dict()` in one call).
    #[pyfunction]
    #[pyo3(signature = (request, /))]
    fn price<'py>(request: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let parsed = parse_request(request).map_err(value_error)?;
        let quote = run_core_released(request.py(), parsed.request(), WORK_BUDGET)?;
        quote_to_py(request.py(), &quote, &parsed.echo.skus, &parsed.echo.codes)
    }

    /// Requests priced per GIL release in `price_many`: large enough to amortise the release,
    /// small enough that converted requests stay in cache (converting a whole batch first was
    /// slower).
    const BATCH_CHUNK: usize = 32;

    /// Prices a batch of carts (the GIL is released while the engine runs, chunk by chunk). A bad
    /// request fails the whole batch with a `ValueError` naming it, e.g.
    /// `requests[2].lines[0].qty`.
    #[pyfunction]
    #[pyo3(signature = (requests, /))]
    fn price_many<'py>(requests: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let py = requests.py();
        let items = sequence(requests, Path::Top("requests")).map_err(value_error)?;
        let out = PyList::empty_bound(py);
        // Pricing has no side effects, so a bad request in a later chunk simply discards the
        // quotes built so far: the batch still fails whole.
        for (c, chunk) in items.chunks(BATCH_CHUNK).enumerate() {
            let mut parsed = Vec::with_capacity(chunk.len());
            for (k, o) in chunk.iter().enumerate() {
                let i = c * BATCH_CHUNK + k;
                parsed.push(
                    parse_request(o)
                        .map_err(|e| PyValueError::new_err(format!("requests[{i}].{e}")))?,
                );
            }
            // The requests alone cross into the released section: the Python objects stay.
            let chunk_requests: Vec<&Request<'_>> = parsed.iter().map(Parsed::request).collect();
            let quotes = py
                .allow_threads(|| {
                    catch_unwind(AssertUnwindSafe(|| {
                        chunk_requests
                            .iter()
                            .map(|r| price_valid(r))
                            .collect::<Vec<_>>()
                    }))
                })
                .map_err(|_| {
                    PyRuntimeError::new_err("the pricing engine failed on this batch (a bug)")
                })?;
            for (quote, p) in quotes.iter().zip(&parsed) {
                out.append(quote_to_py(py, quote, &p.echo.skus, &p.echo.codes)?)?;
            }
        }
        Ok(out)
    }

    /// The least any reader of a request dict must do: one dict lookup per field the engine
    /// reads (every field of the schema that is present), nothing else: no type test, no value
    /// read, no check. Answers how many values it found.
    #[pyfunction]
    #[pyo3(signature = (request, /))]
    fn _price_lookup_floor(request: &Bound<'_, PyDict>) -> PyResult<usize> {
        const TOP: &[&str] = &["now", "channel", "store_id", "lines", "member", "coupons"];
        const LINE: &[&str] = &["sku", "category", "unit_price", "qty", "points_multiplier"];
        const MEMBER: &[&str] = &[
            "tier_percent_off",
            "birthday_percent_off",
            "is_birthday",
            "coupons_on_member_price",
            "points_per_yuan",
        ];
        const COUPON: &[&str] = &[
            "code",
            "found",
            "owner_matches",
            "state",
            "kind",
            "amount_off",
            "percent_off",
            "max_discount",
            "min_spend",
            "sku",
            "points",
            "scope_skus",
            "scope_categories",
            "scope_stores",
            "channels",
            "valid_from",
            "valid_until",
            "stackable",
        ];
        static KEYS: GILOnceCell<[Vec<Py<PyString>>; 4]> = GILOnceCell::new();
        let py = request.py();
        let [top, line, member, coupon] = KEYS.get_or_init(py, || {
            [TOP, LINE, MEMBER, COUPON].map(|keys| {
                keys.iter()
                    .map(|k| PyString::intern_bound(py, k).unbind())
                    .collect()
            })
        });
        let lookup = |d: &Bound<'_, PyDict>, keys: &[Py<PyString>]| -> usize {
            keys.iter()
                // SAFETY: live pointers; the borrowed result is only tested for NULL.
                .filter(|k| {
                    !unsafe { ffi::PyDict_GetItemWithError(d.as_ptr(), k.as_ptr()) }.is_null()
                })
                .count()
        };
        let mut found = lookup(request, top);
        for (key, fields) in [("lines", line), ("coupons", coupon)] {
            if let Some(list) = request.get_item(key)? {
                for d in list.downcast::<PyList>()?.iter() {
                    found += lookup(d.downcast::<PyDict>()?, fields);
                }
            }
        }
        if let Some(m) = request.get_item("member")? {
            found += lookup(m.downcast::<PyDict>()?, member);
        }
        Ok(found)
    }

    /// Converts and checks a request without pricing it: the input half of the binding's cost.
    #[pyfunction]
    #[pyo3(signature = (request, /))]
    fn _price_parse_only(request: &Bound<'_, PyAny>) -> PyResult<()> {
        parse_request(request).map_err(value_error)?;
        Ok(())
    }

    /// Nanoseconds taken by `iterations` runs of the pure engine on one converted request: the
    /// engine's own cost, without any conversion.
    #[pyfunction]
    #[pyo3(signature = (request, iterations, /))]
    fn _price_core_ns(request: &Bound<'_, PyAny>, iterations: u32) -> PyResult<u64> {
        let parsed = parse_request(request).map_err(value_error)?;
        let start = Instant::now();
        for _ in 0..iterations {
            std::hint::black_box(run_core(
                std::hint::black_box(parsed.request()),
                WORK_BUDGET,
            )?);
        }
        Ok(start.elapsed().as_nanos() as u64)
    }

    pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_function(wrap_pyfunction!(price, m)?)?;
        m.add_function(wrap_pyfunction!(price_many, m)?)?;
        m.add_function(wrap_pyfunction!(_price_parse_only, m)?)?;
        m.add_function(wrap_pyfunction!(_price_lookup_floor, m)?)?;
        m.add_function(wrap_pyfunction!(_price_core_ns, m)?)?;
        Ok(())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(price_quote, m)?)?;
    m.add_class::<PyQuote>()?;
    #[cfg(feature = "bench")]
    bench::register(m)?;
    Ok(())
}

//! The one C math function the binaries call, so that they need no `libm.so.6`.
//!
//! The AWS SDK's adaptive-retry rate limiter takes a cube root with `f64::powf`, which compiles
//! to a call to C's `pow`: the only symbol the functions import from glibc's libm. Loading that
//! library for it costs every cold start a fourth shared object to map and relocate, and ~320 KiB
//! of resident memory (its dispatch code and tables, mapped around the pages touched). Defining
//! `pow` here, from the `libm` crate (the Rust port of musl's, ≤ 1 ULP like glibc's), leaves
//! nothing for the dynamic linker to find in libm, and the linker (`--as-needed`) drops it.

/// C's `pow(x, y)` = xʸ.
// An exported, unmangled definition is what resolves the SDK's call here rather than in libm;
// the body is safe Rust.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

#[cfg(test)]
mod tests {
    use super::pow;

    // References that do not go through `pow` (in this test binary `f64::powf` is this very
    // function): exact powers, square roots and reciprocals, IEEE special cases.
    #[test]
    fn exact_where_the_answer_is_representable() {
        assert_eq!(pow(2.0, 10.0), 1024.0);
        assert_eq!(pow(10.0, -2.0), 0.01);
        assert_eq!(pow(3.0, 2.0), 9.0);
        assert_eq!(pow(0.5, 0.5), 0.5f64.sqrt());
        assert_eq!(pow(7.0, -1.0), 1.0 / 7.0);
        assert!((pow(8.0, 1.0 / 3.0) - 2.0).abs() <= 2.0 * f64::EPSILON);
    }

    #[test]
    fn special_cases_as_c_defines_them() {
        assert_eq!(pow(1e300, 2.0), f64::INFINITY);
        assert_eq!(pow(0.0, -1.0), f64::INFINITY);
        assert_eq!(pow(f64::NAN, 0.0), 1.0);
        assert!(pow(-1.0, 0.5).is_nan());
    }
}

//! `INCRBYFLOAT` and `HINCRBYFLOAT` arithmetic as Redis does it on x86-64:
//! in `long double` (x87 extended precision: a 64-bit mantissa), parsed as
//! `strtold` parses, printed as `%.17Lf` with trailing zeros removed. Done
//! exactly with big integers and rounded to nearest-even at each step, so
//! the text a primary logs is the text Redis would have produced.

use num_bigint::{BigInt, BigUint, Sign};

/// Longest argument Redis parses as a long double (`MAX_LONG_DOUBLE_CHARS`).
const MAX_CHARS: usize = 5 * 1024;
/// Mantissa bits of x87 extended precision.
const MANTISSA_BITS: u64 = 64;
/// The largest finite exponent: values reach `2^16384` exclusive.
const MAX_EXP: i64 = 16384 - MANTISSA_BITS as i64;
/// Below this exponent a value underflows to zero (denormals are not
/// modelled: they are far below anything a counter holds).
const MIN_EXP: i64 = -16382 - MANTISSA_BITS as i64;
/// Decimal exponents past this are out of range whatever the digits.
const MAX_EXP10: i64 = 6000;

/// An extended-precision number: `(-1)^neg × mant × 2^exp`, or an infinity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LongDouble {
    Finite { neg: bool, mant: u64, exp: i64 },
    Inf { neg: bool },
}

/// Rounds `num / den` (positive) to a 64-bit mantissa, nearest-even:
/// `(mant, exp)`; `None` past the largest exponent; zero below the smallest.
fn round(num: &BigUint, den: &BigUint) -> Option<(u64, i64)> {
    if num.bits() == 0 {
        return Some((0, 0));
    }
    let mut e = num.bits() as i64 - den.bits() as i64 - MANTISSA_BITS as i64;
    loop {
        let (n, d) = if e >= 0 {
            (num.clone(), den << (e as u64))
        } else {
            (num << ((-e) as u64), den.clone())
        };
        let q = &n / &d;
        if q.bits() > MANTISSA_BITS {
            e += 1;
            continue;
        }
        if q.bits() < MANTISSA_BITS {
            e -= 1;
            continue;
        }
        let r = &n - &q * &d;
        let twice = r << 1u32;
        let mut m: u64 = q.try_into().expect("64 bits");
        let up = match twice.cmp(&d) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => m & 1 == 1,
            std::cmp::Ordering::Less => false,
        };
        if up {
            match m.checked_add(1) {
                Some(v) => m = v,
                None => {
                    m = 1 << 63;
                    e += 1;
                }
            }
        }
        if e > MAX_EXP {
            return None;
        }
        if e < MIN_EXP {
            return Some((0, 0));
        }
        return Some((m, e));
    }
}

fn pow10(n: u64) -> BigUint {
    BigUint::from(10u32).pow(n as u32)
}

impl LongDouble {
    /// Zero.
    pub const ZERO: LongDouble = LongDouble::Finite {
        neg: false,
        mant: 0,
        exp: 0,
    };

    /// Parses `b` as Redis's `string2ld` does: `strtold` over the whole
    /// argument, no leading space, no NaN, no overflow or underflow to zero.
    pub fn parse(b: &[u8]) -> Option<LongDouble> {
        if b.is_empty() || b.len() >= MAX_CHARS || b[0].is_ascii_whitespace() {
            return None;
        }
        let s = std::str::from_utf8(b).ok()?;
        let (neg, body) = match s.as_bytes()[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let lower = body.to_ascii_lowercase();
        if lower == "inf" || lower == "infinity" {
            return Some(LongDouble::Inf { neg });
        }
        let (mantissa, exp10) = match lower.find('e') {
            Some(at) => {
                let e = &lower[at + 1..];
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                let v: i64 = digits.parse().unwrap_or(i64::MAX).min(1 << 40);
                (&lower[..at], if e.starts_with('-') { -v } else { v })
            }
            None => (&lower[..], 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if (int.is_empty() && frac.is_empty())
            || !int.bytes().chain(frac.bytes()).all(|c| c.is_ascii_digit())
        {
            return None;
        }
        let digits = format!("{int}{frac}");
        let digits = digits.trim_start_matches('0');
        if digits.is_empty() {
            return Some(LongDouble::Finite {
                neg,
                mant: 0,
                exp: 0,
            });
        }
        let scale = exp10 - frac.len() as i64;
        if scale + digits.len() as i64 > MAX_EXP10 {
            return None; // overflow
        }
        if scale + (digits.len() as i64) < -MAX_EXP10 {
            return None; // underflow to zero
        }
        let d: BigUint = digits.parse().ok()?;
        let (num, den) = if scale >= 0 {
            (d * pow10(scale as u64), BigUint::from(1u32))
        } else {
            (d, pow10((-scale) as u64))
        };
        match round(&num, &den)? {
            (0, _) => None,
            (mant, exp) => Some(LongDouble::Finite { neg, mant, exp }),
        }
    }

    /// True for an infinity.
    pub fn is_infinite(&self) -> bool {
        matches!(self, LongDouble::Inf { .. })
    }

    /// The sum, rounded to nearest-even; `None` for NaN (infinities of both
    /// signs). An overflow is an infinity.
    pub fn add(&self, other: &LongDouble) -> Option<LongDouble> {
        use LongDouble::{Finite, Inf};
        match (self, other) {
            (Inf { neg: a }, Inf { neg: b }) if a != b => None,
            (Inf { neg }, _) | (_, Inf { neg }) => Some(Inf { neg: *neg }),
            (
                Finite {
                    neg: n1,
                    mant: m1,
                    exp: e1,
                },
                Finite {
                    neg: n2,
                    mant: m2,
                    exp: e2,
                },
            ) => {
                let base = if *m1 == 0 {
                    *e2
                } else if *m2 == 0 {
                    *e1
                } else {
                    (*e1).min(*e2)
                };
                let term = |neg: bool, m: u64, e: i64| {
                    let v = BigInt::from(m) << ((e - base).max(0) as u64);
                    if neg {
                        -v
                    } else {
                        v
                    }
                };
                let sum = term(*n1, *m1, *e1) + term(*n2, *m2, *e2);
                let (sign, mag) = sum.into_parts();
                let Some((mant, exp)) = round(&mag, &BigUint::from(1u32)) else {
                    return Some(Inf {
                        neg: sign == Sign::Minus,
                    });
                };
                let exp = if mant == 0 { 0 } else { exp + base };
                if exp > MAX_EXP {
                    return Some(Inf {
                        neg: sign == Sign::Minus,
                    });
                }
                Some(Finite {
                    // x + (-x) is +0 when rounding to nearest; -0 + -0 is -0.
                    neg: sign == Sign::Minus || (mant == 0 && *n1 && *n2),
                    mant,
                    exp,
                })
            }
        }
    }

    /// The text Redis stores and replies with: `%.17Lf`, trailing zeros and
    /// a bare point removed, `-0` as `0`.
    pub fn to_human(&self) -> String {
        let (neg, mant, exp) = match self {
            LongDouble::Inf { neg: true } => return "-inf".into(),
            LongDouble::Inf { neg: false } => return "inf".into(),
            LongDouble::Finite { neg, mant, exp } => (*neg, *mant, *exp),
        };
        let scaled = BigUint::from(mant) * pow10(17);
        let n = if exp >= 0 {
            scaled << (exp as u64)
        } else {
            let den = BigUint::from(1u32) << ((-exp) as u64);
            let q = &scaled / &den;
            let r = &scaled - &q * &den;
            let twice = r << 1u32;
            let up = match twice.cmp(&den) {
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Equal => q.bit(0),
                std::cmp::Ordering::Less => false,
            };
            if up {
                q + 1u32
            } else {
                q
            }
        };
        let digits = format!("{n:0>18}");
        let (int, frac) = digits.split_at(digits.len() - 17);
        let frac = frac.trim_end_matches('0');
        let mut s = String::with_capacity(digits.len() + 2);
        if neg {
            s.push('-');
        }
        s.push_str(int);
        if !frac.is_empty() {
            s.push('.');
            s.push_str(frac);
        }
        if s == "-0" {
            s = "0".into();
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(a: &str, b: &str) -> String {
        let a = LongDouble::parse(a.as_bytes()).unwrap();
        let b = LongDouble::parse(b.as_bytes()).unwrap();
        a.add(&b).unwrap().to_human()
    }

    #[test]
    fn sums_print_as_redis_prints_them() {
        // Each pair as redis-server 7.0 answered `SET x A` + `INCRBYFLOAT x B`.
        for (a, b, want) in [
            ("0.1", "0.2", "0.3"),
            ("12345.6789", "0.0001", "12345.67899999999999938"),
            ("1e20", "0.5", "100000000000000000000"),
            ("3.0", "1.1", "4.1"),
            ("10.5", "0.1", "10.6"),
            ("-5", "2.25", "-2.75"),
            ("1.23456789012345678", "1", "2.23456789012345678"),
            ("99999.99999", "0.00001", "100000"),
            ("9223372036854775807", "7", "9223372036854775814"),
            ("5", "-5", "0"),
            ("0", "0", "0"),
        ] {
            assert_eq!(sum(a, b), want, "{a} + {b}");
        }
        let big = LongDouble::parse(b"1e400").unwrap();
        assert!(big
            .to_human()
            .starts_with("10000000000000000000281880683947586514586453433629"));
    }

    #[test]
    fn parsing_refuses_what_strtold_or_redis_refuses() {
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"nan",
            b"abc",
            b"1e",
            b".",
            b"1e99999",
            b"1e-99999",
            b"--1",
        ] {
            assert_eq!(
                LongDouble::parse(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(LongDouble::parse(b"-inf").unwrap().is_infinite());
        assert_eq!(LongDouble::parse(b".5").unwrap().to_human(), "0.5");
        assert_eq!(LongDouble::parse(b"-0").unwrap().to_human(), "0");
        assert_eq!(LongDouble::parse(b"+7.").unwrap().to_human(), "7");
        let inf = LongDouble::parse(b"inf").unwrap();
        let minus_inf = LongDouble::parse(b"-inf").unwrap();
        assert_eq!(inf.add(&minus_inf), None);
        assert!(inf.add(&LongDouble::ZERO).unwrap().is_infinite());
        let max = LongDouble::parse(b"1e4932").unwrap();
        assert!(
            max.add(&max).unwrap().is_infinite(),
            "an overflow is an infinity"
        );
    }
}

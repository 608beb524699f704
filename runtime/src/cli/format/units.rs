//! Sizes and times as Docker prints them: go-units' sizes in Go's `%g`, and
//! Go's own way of writing a time.
//!
//! Docker writes sizes with a number of significant digits, not of decimals:
//! `images` and `ps -s` use three (`1.24MB`), `container prune` four
//! (`12.61kB`), and `stats` binary units with four (`2.676MiB`). Go's `%.Ng`
//! drops trailing zeros and switches to an exponent when the number has more
//! integer digits than N, so 999.5kB at three digits prints as `1e+03kB`;
//! that is Docker's output too, so it is kept.

const DECIMAL: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
const BINARY: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// go-units' HumanSizeWithPrecision: decimal units.
pub fn decimal(bytes: u64, digits: usize) -> String {
    custom(bytes as f64, 1000.0, &DECIMAL, digits)
}

/// go-units' BytesSize: binary units, four digits.
pub fn binary(bytes: u64) -> String {
    custom(bytes as f64, 1024.0, &BINARY, 4)
}

fn custom(mut value: f64, base: f64, units: &[&str], digits: usize) -> String {
    let mut unit = 0;
    while value >= base && unit + 1 < units.len() {
        value /= base;
        unit += 1;
    }
    format!("{}{}", go_g(value, digits), units[unit])
}

/// Go's `%.{digits}g`.
pub fn go_g(value: f64, digits: usize) -> String {
    let digits = digits.max(1);
    if value == 0.0 {
        return "0".to_string();
    }
    // Rounding to the digits first gives the exponent Go decides on.
    let scientific = format!("{:.*e}", digits - 1, value);
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if exponent < -4 || exponent >= digits as i32 {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim_zeros(mantissa), exponent.abs());
    }
    let decimals = (digits as i32 - 1 - exponent).max(0) as usize;
    trim_zeros(&format!("{value:.decimals$}")).to_string()
}

fn trim_zeros(number: &str) -> &str {
    if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    }
}

/// An RFC 3339 time as Go's `time.Time.String()` writes it in UTC
/// (`2026-12-02 06:25:29 +0000 UTC`), as Docker's `CreatedAt` columns do.
pub fn go_time(rfc3339: &str) -> String {
    let Ok(time) = humantime::parse_rfc3339_weak(rfc3339) else {
        return rfc3339.to_string();
    };
    let text = humantime::format_rfc3339_seconds(time).to_string();
    format!(
        "{} +0000 UTC",
        text.trim_end_matches('Z').replacen('T', " ", 1)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_gos() {
        assert_eq!(
            go_time("2026-12-02T06:25:29.123456789Z"),
            "2026-12-02 06:25:29 +0000 UTC"
        );
        assert_eq!(
            go_time("1970-01-01T00:00:00Z"),
            "1970-01-01 00:00:00 +0000 UTC"
        );
    }

    #[test]
    fn sizes_are_dockers() {
        assert_eq!(decimal(0, 3), "0B");
        assert_eq!(decimal(999, 3), "999B");
        assert_eq!(decimal(1_000, 3), "1kB");
        assert_eq!(decimal(1_240_000, 3), "1.24MB");
        assert_eq!(decimal(1_236_000, 3), "1.24MB");
        assert_eq!(decimal(12_614, 4), "12.61kB");
        assert_eq!(decimal(999_600, 3), "1e+03kB");
        assert_eq!(binary(1_572_864), "1.5MiB");
        assert_eq!(binary(2_805_760), "2.676MiB");
        assert_eq!(binary(100 << 20), "100MiB");
        assert_eq!(binary(0), "0B");
    }

    #[test]
    fn go_g_follows_go() {
        assert_eq!(go_g(1.5, 3), "1.5");
        assert_eq!(go_g(100.0, 3), "100");
        assert_eq!(go_g(0.000012345, 3), "1.23e-05");
        assert_eq!(go_g(0.5, 4), "0.5");
    }
}

//! Text for operators: [`utc`] timestamps and the drill's [`render`]ed timeline table.

use std::fmt::Write as _;

use super::timeline::Timeline;

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for milliseconds since the Unix epoch.
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// The table `--drill` prints.
pub fn render(t: &Timeline) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "failover drill: node {} -> node {} (term {} -> {}), requested at {}",
        t.from,
        t.to,
        t.term_before,
        t.term_after,
        utc(t.t0_ms)
    );
    let _ = writeln!(
        o,
        "{:<27} {:<16} {:<24} {:>8} {:>8}  {:<7} DETAIL",
        "STEP", "SOURCE", "AT", "+MS", "BUDGET", "RESULT"
    );
    for r in &t.rows {
        let _ = writeln!(
            o,
            "{:<27} {:<16} {:<24} {:>8} {:>8}  {:<7} {}",
            r.step,
            r.source,
            r.at_ms.map(utc).unwrap_or_else(|| "-".into()),
            r.offset_ms
                .map(|x| x.to_string())
                .unwrap_or_else(|| "-".into()),
            r.budget_ms,
            if r.ok { "ok" } else { "MISSED" },
            r.detail
        );
    }
    let _ = match &t.holder_check {
        Ok(()) => writeln!(o, "VIP holder afterwards: node {} alone", t.to),
        Err(e) => writeln!(o, "VIP holder afterwards: WRONG ({e})"),
    };
    for w in &t.warnings {
        let _ = writeln!(o, "warning: {w}");
    }
    let _ = if t.passed {
        writeln!(o, "drill passed")
    } else {
        let missed: Vec<&str> = t
            .rows
            .iter()
            .filter(|r| !r.ok)
            .map(|r| r.step.as_str())
            .collect();
        writeln!(o, "drill FAILED: {}", missed.join(", "))
    };
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(utc(1_795_550_516_007), "2026-11-24T20:01:56.007Z");
    }
}

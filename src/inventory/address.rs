//! Host addresses as written in inventories: `name[:port]`, `[ipv6]:port`, bare IPv6, and
//! Ansible's host ranges (`web[01:20]`, `db-[a:c]`, `h[1:10:2]`). Owns no inventory state.

/// The most hosts one range pattern may expand to: a guard against `h[1:999999999]`.
const MAX_RANGE_HOSTS: usize = 100_000;

/// Splits a host entry into its name (range brackets kept) and optional port, the way Ansible's
/// `parse_address(..., allow_ranges=True)` does. Returns `None` when the text is not a
/// recognisable address (Ansible then keeps the whole text as the host name, without a port).
pub(crate) fn parse_address(text: &str) -> Option<(String, Option<u16>)> {
    // `[host]:port`, mostly for IPv6.
    if let Some(rest) = text.strip_prefix('[')
        && let Some(close) = rest.rfind(']')
    {
        let inner = &rest[..close];
        let after = &rest[close + 1..];
        if let Some(port) = after.strip_prefix(':')
            && !inner.is_empty()
            && !inner.contains('[')
        {
            return Some((inner.to_string(), Some(parse_port(port)?)));
        }
        if after.is_empty() && is_ipv6(inner) {
            return Some((inner.to_string(), None));
        }
    }
    if is_ipv6(text) {
        return Some((text.to_string(), None));
    }
    // `name[:port]`, where name may hold range brackets (whose colons are not port separators).
    let colon = last_colon_outside_brackets(text);
    let (name, port) = match colon {
        Some(i) => (&text[..i], Some(parse_port(&text[i + 1..])?)),
        None => (text, None),
    };
    if name.is_empty() || !valid_hostname(name) {
        return None;
    }
    Some((name.to_string(), port))
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn is_ipv6(text: &str) -> bool {
    text.matches(':').count() >= 2
        && text
            .chars()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.' | '%'))
}

fn last_colon_outside_brackets(text: &str) -> Option<usize> {
    let mut depth = 0i32;
    let mut found = None;
    for (i, c) in text.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 => found = Some(i),
            _ => {}
        }
    }
    found
}

/// A host name: no whitespace, no colon outside range brackets, balanced brackets.
fn valid_hostname(name: &str) -> bool {
    let mut depth = 0i32;
    for c in name.chars() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            ':' if depth == 0 => return false,
            c if c.is_whitespace() || c == ',' => return false,
            _ => {}
        }
    }
    depth == 0
}

/// Whether `text` holds a host range (`[` ... `:` ... `]`).
pub(crate) fn has_range(text: &str) -> bool {
    first_range(text).is_some()
}

fn first_range(text: &str) -> Option<(usize, usize)> {
    let open = text.find('[')?;
    let close = open + text[open..].find(']')?;
    text[open..close].contains(':').then_some((open, close))
}

/// Expands every host range in `pattern` (ranges may repeat: `r[1:2]n[a:b]`). A pattern
/// without a range is returned as the only name. Errors are Ansible's messages.
pub(crate) fn expand_ranges(pattern: &str) -> Result<Vec<String>, String> {
    let mut done = Vec::new();
    let mut todo = vec![pattern.to_string()];
    while let Some(name) = todo.pop() {
        let Some((open, close)) = first_range(&name) else {
            done.push(name);
            continue;
        };
        let items = range_items(&name[open + 1..close])?;
        if done.len() + todo.len() + items.len() > MAX_RANGE_HOSTS {
            return Err(format!(
                "host range in {pattern:?} expands to more than {MAX_RANGE_HOSTS} hosts"
            ));
        }
        // Pushed in reverse so that popping keeps the natural order.
        for item in items.iter().rev() {
            todo.push(format!("{}{item}{}", &name[..open], &name[close + 1..]));
        }
    }
    Ok(done)
}

/// The items of one `begin:end[:step]` range, end inclusive.
fn range_items(spec: &str) -> Result<Vec<String>, String> {
    let bounds: Vec<&str> = spec.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err(format!(
            "host range [{spec}] must be begin:end or begin:end:step"
        ));
    }
    let begin = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    if end.is_empty() {
        return Err(format!("host range [{spec}] must specify an end value"));
    }
    let step: usize = match bounds.get(2) {
        None => 1,
        Some(s) => s
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("host range [{spec}] has an invalid step {s:?}"))?,
    };
    const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    if let (Some(b), Some(e)) = (single_letter(begin, LETTERS), single_letter(end, LETTERS)) {
        if b > e {
            return Err(format!("host range [{spec}] must have begin <= end"));
        }
        return Ok(LETTERS[b..=e]
            .chars()
            .step_by(step)
            .map(String::from)
            .collect());
    }
    let width = if begin.len() > 1 && begin.starts_with('0') {
        if begin.len() != end.len() {
            return Err(format!(
                "host range [{spec}] must specify equal-length begin and end formats"
            ));
        }
        begin.len()
    } else {
        0
    };
    let parse = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| format!("host range [{spec}]: {s:?} is not a number or a letter"))
    };
    let (b, e) = (parse(begin)?, parse(end)?);
    if e >= b && (e - b) / step as u64 >= MAX_RANGE_HOSTS as u64 {
        return Err(format!(
            "host range [{spec}] expands to more than {MAX_RANGE_HOSTS} hosts"
        ));
    }
    Ok((b..=e)
        .step_by(step)
        .map(|n| format!("{n:0width$}"))
        .collect())
}

fn single_letter(s: &str, letters: &str) -> Option<usize> {
    let mut chars = s.chars();
    let c = chars.next()?;
    if chars.next().is_some() {
        return None;
    }
    letters.find(c)
}

/// Expands a host entry as Ansible's inventory plugins do: separates an optional `:port`,
/// then expands ranges. Returns the names and the port. `Err` carries Ansible's message.
pub(crate) fn expand_host_entry(entry: &str) -> Result<(Vec<String>, Option<u16>), String> {
    let (pattern, port) = parse_address(entry).unwrap_or_else(|| (entry.to_string(), None));
    if entry.trim_end().ends_with(':') && port.is_none() {
        return Err(format!(
            "invalid host pattern '{entry}': ending in ':' is not allowed, this character is \
             reserved to provide a port"
        ));
    }
    let names = if has_range(&pattern) {
        expand_ranges(&pattern)?
    } else {
        vec![pattern]
    };
    if names.iter().any(|n| n.trim() == "---") {
        return Err(format!(
            "invalid host pattern '{entry}': '---' is normally a sign this is a YAML file"
        ));
    }
    Ok((names, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &str) -> Vec<String> {
        expand_ranges(p).expect("valid range")
    }

    #[test]
    fn numeric_ranges_keep_leading_zeros() {
        assert_eq!(names("web[01:03]"), ["web01", "web02", "web03"]);
        assert_eq!(names("web[8:10]"), ["web8", "web9", "web10"]);
        assert_eq!(names("h[:2]"), ["h0", "h1", "h2"]);
    }

    #[test]
    fn steps_letters_and_several_ranges() {
        assert_eq!(names("h[1:10:4]"), ["h1", "h5", "h9"]);
        assert_eq!(names("db-[a:c]"), ["db-a", "db-b", "db-c"]);
        assert_eq!(names("r[1:2]n[a:b]"), ["r1na", "r1nb", "r2na", "r2nb"]);
        assert_eq!(names("10.0.0.[1:2]"), ["10.0.0.1", "10.0.0.2"]);
    }

    #[test]
    fn bad_ranges_are_errors_not_panics() {
        assert!(expand_ranges("h[01:3]").is_err(), "unequal widths");
        assert!(expand_ranges("h[1:]").is_err(), "no end");
        assert!(expand_ranges("h[1:5:0]").is_err(), "zero step");
        assert!(expand_ranges("h[c:a]").is_err(), "reversed letters");
        assert!(expand_ranges("h[1:2:3:4]").is_err());
        assert!(expand_ranges("h[x:9]").is_err());
        assert!(expand_ranges("h[1:99999999999]").is_err(), "too large");
        assert_eq!(names("h[5:1]"), Vec::<String>::new());
    }

    #[test]
    fn addresses_with_ports() {
        assert_eq!(parse_address("db1:2222"), Some(("db1".into(), Some(2222))));
        assert_eq!(
            parse_address("[fe80::1]:22"),
            Some(("fe80::1".into(), Some(22)))
        );
        assert_eq!(parse_address("::1"), Some(("::1".into(), None)));
        assert_eq!(
            parse_address("web[01:03]:22"),
            Some(("web[01:03]".into(), Some(22)))
        );
        assert_eq!(
            parse_address("web[01:03]"),
            Some(("web[01:03]".into(), None))
        );
        assert_eq!(parse_address("foo:bar"), None);
        assert_eq!(parse_address("h:99999"), None);
    }

    #[test]
    fn host_entries() {
        assert_eq!(
            expand_host_entry("10.0.0.[1:2]:2200").expect("valid"),
            (
                vec!["10.0.0.1".to_string(), "10.0.0.2".to_string()],
                Some(2200)
            )
        );
        assert!(expand_host_entry("h1:").is_err());
        assert!(expand_host_entry("---").is_err());
        assert_eq!(
            expand_host_entry("odd:name").expect("kept whole"),
            (vec!["odd:name".to_string()], None)
        );
    }
}

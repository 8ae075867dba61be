//! The walk's tools: the [`Checker`] that collects problems and warnings with their places in
//! the file, the known keys of the core sections, and the small helpers every section's rules
//! use (key lookup, spans, paths, names, the closest known word, relative paths, broadcast
//! addresses).
//!
//! Owns no rule of its own; the rules are in `checks` (cluster, members, links, timing, shell)
//! and `sections` (the authority's sections).

#![forbid(unsafe_code)]

use super::*;

pub(super) type Span = Range<usize>;
/// Entries of an array of tables: index, table, span for locations.
pub(super) type Entries<'a, 'i> = Vec<(usize, &'a DeTable<'i>, Span)>;

pub(super) const TOP_KEYS: &[&str] = &[
    "cluster",
    "member",
    "key_file",
    "state_dir",
    "control_socket",
    "timing",
    "shell",
    "members",
    "links",
    "authority",
    "resources",
    "relay",
    "watchdog",
    "snmp",
    "array",
    "syslog",
    "fence_service",
];
pub(super) const TIMING_KEYS: &[&str] = &["interval_ms", "warn_ms", "dead_ms", "initdead_ms"];
pub(super) const SHELL_KEYS: &[&str] = &["mlockall", "realtime_priority", "stall_warn_ms"];
pub(super) const MEMBER_KEYS: &[&str] = &["name", "id", "role"];
pub(super) const LINK_COMMON_KEYS: &[&str] = &["id", "peer", "kind"];
pub(super) const LINK_KINDS: &[(&str, &[&str])] = &[
    ("serial", &["device", "baud"]),
    ("udp", &["local", "remote", "broadcast"]),
    ("ethernet", &["interface"]),
];

/// Collects problems, each with the byte offset it was found at so that the report reads in
/// file order.
pub(super) struct Checker<'t> {
    pub(super) text: &'t str,
    pub(super) origin: &'t Path,
    pub(super) problems: Vec<(usize, Problem)>,
    pub(super) warnings: Vec<(usize, Problem)>,
}

impl<'t> Checker<'t> {
    pub(super) fn new(text: &'t str, origin: &'t Path) -> Self {
        Checker { text, origin, problems: Vec::new(), warnings: Vec::new() }
    }

    pub(super) fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
    }

    /// `FILE:line N: key.path`, leaving out what is not known.
    pub(super) fn location(&self, at: Option<Span>, path: &str) -> String {
        let mut location = self.origin.display().to_string();
        if let Some(span) = at {
            location.push_str(&format!(":line {}", self.line_of(span.start)));
        }
        if !path.is_empty() {
            location.push_str(": ");
            location.push_str(path);
        }
        location
    }

    pub(super) fn push(
        &mut self,
        kind: ProblemKind,
        at: Option<Span>,
        path: &str,
        message: String,
        hint: String,
    ) {
        let (offset, problem) = self.placed(kind, at, path, message, hint);
        self.problems.push((offset, problem));
    }

    /// A problem or warning with its location, and the offset it sorts by (those without a
    /// line last).
    fn placed(
        &self,
        kind: ProblemKind,
        at: Option<Span>,
        path: &str,
        message: String,
        hint: String,
    ) -> (usize, Problem) {
        let location = self.location(at.clone(), path);
        (at.map_or(usize::MAX, |span| span.start), Problem { kind, location, message, hint })
    }

    /// A problem a section's validator found, at `at` (the span of its key path).
    pub(super) fn place(&mut self, at: Option<Span>, found: path::Found) {
        let location = self.location(at.clone(), &found.path.to_string());
        let path::Found { kind, message, hint, .. } = found;
        self.push_problem(at, Problem { kind, location, message, hint });
    }

    pub(super) fn push_problem(&mut self, at: Option<Span>, problem: Problem) {
        let offset = at.map_or(usize::MAX, |span| span.start);
        self.problems.push((offset, problem));
    }

    /// A warning: reported, but the file stays valid.
    pub(super) fn warn(
        &mut self,
        kind: ProblemKind,
        at: Option<Span>,
        path: &str,
        message: String,
        hint: String,
    ) {
        assert!(kind.is_warning(), "{kind} is a problem, not a warning");
        let placed = self.placed(kind, at, path, message, hint);
        self.warnings.push(placed);
    }

    /// The problems in file order (those without a line last), bounded by [`MAX_PROBLEMS`].
    pub(super) fn finish(self) -> Vec<Problem> {
        self.finish_with_warnings().0
    }

    /// The problems and the warnings, each in file order and bounded by [`MAX_PROBLEMS`].
    pub(super) fn finish_with_warnings(mut self) -> (Vec<Problem>, Vec<Problem>) {
        let in_order = |mut list: Vec<(usize, Problem)>| {
            list.sort_by_key(|(offset, _)| *offset);
            list.truncate(MAX_PROBLEMS);
            list.into_iter().map(|(_, problem)| problem).collect::<Vec<_>>()
        };
        let problems = in_order(std::mem::take(&mut self.problems));
        (problems, in_order(self.warnings))
    }

    /// Reports every key of `table` that is not in `valid`.
    pub(super) fn unknown_keys(&mut self, table: &DeTable<'_>, prefix: &str, valid: &[&str], place: &str) {
        for (key, _) in table.iter() {
            let name: &str = key.get_ref();
            if valid.contains(&name) {
                continue;
            }
            let mut hint = format!("valid keys in {place}: {}", valid.join(", "));
            if let Some(close) = closest(name, valid) {
                hint = format!("did you mean `{close}`? {hint}");
            }
            self.push(
                ProblemKind::UnknownKey,
                Some(key.span()),
                &join(prefix, name),
                format!("unknown key `{name}`"),
                hint,
            );
        }
    }

    pub(super) fn missing(&mut self, at: Option<Span>, path: &str, example: &str) {
        let key = path.rsplit('.').next().unwrap_or(path);
        self.push(
            ProblemKind::MissingKey,
            at,
            path,
            format!("required key `{key}` is missing"),
            format!("add `{example}`"),
        );
    }

    pub(super) fn wrong_type(&mut self, at: Span, path: &str, expected: &str, found: &DeValue<'_>) {
        let hint = match expected {
            "a string" => "write the value in double quotes, e.g. \"text\"",
            "a whole number" => "write digits without quotes, e.g. 200",
            "true or false" => "write true or false without quotes",
            _ => "see docs/configuration.md for the schema",
        };
        self.push(
            ProblemKind::BadValue,
            Some(at),
            path,
            format!("`{}` must be {expected}, not {}", last_key(path), describe_type(found)),
            hint.to_string(),
        );
    }

    /// A string value. `required` is an example line for the hint when it is missing.
    pub(super) fn string<'a>(
        &mut self,
        table: &'a DeTable<'_>,
        key: &str,
        prefix: &str,
        parent: Option<Span>,
        required: Option<&str>,
    ) -> Option<(&'a str, Span)> {
        let path = join(prefix, key);
        let Some((key_span, value)) = lookup(table, key) else {
            if let Some(example) = required {
                self.missing(parent, &path, example);
            }
            return None;
        };
        match value.as_str() {
            Some(text) => Some((text, key_span)),
            None => {
                self.wrong_type(key_span, &path, "a string", value);
                None
            }
        }
    }

    /// A whole number within `bounds`.
    pub(super) fn integer(
        &mut self,
        table: &DeTable<'_>,
        key: &str,
        prefix: &str,
        parent: Option<Span>,
        required: Option<&str>,
        bounds: RangeInclusive<i64>,
    ) -> Option<(i64, Span)> {
        let path = join(prefix, key);
        let Some((key_span, value)) = lookup(table, key) else {
            if let Some(example) = required {
                self.missing(parent, &path, example);
            }
            return None;
        };
        let Some(integer) = value.as_integer() else {
            self.wrong_type(key_span, &path, "a whole number", value);
            return None;
        };
        let parsed = i64::from_str_radix(integer.as_str(), integer.radix()).ok();
        match parsed {
            Some(number) if bounds.contains(&number) => Some((number, key_span)),
            _ => {
                self.push(
                    ProblemKind::BadValue,
                    Some(key_span),
                    &path,
                    format!("`{key} = {integer}` is out of range"),
                    format!("use a whole number from {} to {}", bounds.start(), bounds.end()),
                );
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, table: &DeTable<'_>, key: &str, prefix: &str) -> Option<(bool, Span)> {
        let path = join(prefix, key);
        let (key_span, value) = lookup(table, key)?;
        match value.as_bool() {
            Some(flag) => Some((flag, key_span)),
            None => {
                self.wrong_type(key_span, &path, "true or false", value);
                None
            }
        }
    }

    /// An optional sub-table (`[timing]`, `[shell]`).
    pub(super) fn table<'a, 'i>(
        &mut self,
        root: &'a DeTable<'i>,
        key: &str,
    ) -> Option<(&'a DeTable<'i>, Span)> {
        let (key_span, value) = lookup(root, key)?;
        match value.as_table() {
            Some(table) => Some((table, key_span)),
            None => {
                self.push(
                    ProblemKind::BadValue,
                    Some(key_span),
                    key,
                    format!("`{key}` must be a table, not {}", describe_type(value)),
                    format!("write it as a [{key}] section"),
                );
                None
            }
        }
    }

    /// An array of tables (`[[members]]`, `[[links]]`): each element with its index, the
    /// table when it is one, and a span for its location.
    pub(super) fn array_of_tables<'a, 'i>(
        &mut self,
        root: &'a DeTable<'i>,
        key: &str,
    ) -> Option<(Span, Entries<'a, 'i>)> {
        let (key_span, value) = lookup(root, key)?;
        let Some(array) = value.as_array() else {
            self.push(
                ProblemKind::BadValue,
                Some(key_span),
                key,
                format!("`{key}` must be a list of tables, not {}", describe_type(value)),
                format!("write each entry as a [[{key}]] section"),
            );
            return None;
        };
        let mut tables = Vec::with_capacity(array.len());
        for (index, element) in array.iter().enumerate() {
            let span = element_span(element.span(), &key_span);
            match element.get_ref().as_table() {
                Some(table) => tables.push((index, table, span)),
                None => self.push(
                    ProblemKind::BadValue,
                    Some(span),
                    &format!("{key}[{index}]"),
                    format!("`{key}[{index}]` must be a table, not {}", describe_type(element.get_ref())),
                    format!("write each entry as a [[{key}]] section"),
                ),
            }
        }
        Some((key_span, tables))
    }

    /// A name of 1..=32 characters among `[A-Za-z0-9._-]`.
    pub(super) fn name(&mut self, value: &str, at: Span, path: &str) -> bool {
        if is_valid_name(value) {
            return true;
        }
        self.push(
            ProblemKind::BadValue,
            Some(at),
            path,
            format!("`{}` is not a valid name: {:?}", last_key(path), value),
            format!("use 1 to {MAX_NAME_CHARS} characters among A-Z a-z 0-9 . _ -"),
        );
        false
    }
}

pub(super) fn lookup<'a, 'i>(table: &'a DeTable<'i>, key: &str) -> Option<(Span, &'a DeValue<'i>)> {
    table.get_key_value(key).map(|(k, v)| (k.span(), v.get_ref()))
}

/// The span of an array element, or of the array's key when the parser gave the element none.
pub(super) fn element_span(span: Span, fallback: &Span) -> Span {
    if span.is_empty() && span.start == 0 {
        fallback.clone()
    } else {
        span
    }
}

pub(super) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

pub(super) fn last_key(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

pub(super) fn describe_type(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "a whole number",
        DeValue::Float(_) => "a decimal number",
        DeValue::Boolean(_) => "true/false",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

pub(super) fn is_valid_name(name: &str) -> bool {
    (1..=MAX_NAME_CHARS).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The closest candidate within a small edit distance, for "did you mean".
pub(super) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = if word.len() <= 4 { 1 } else { 2 };
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

pub(super) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// Relative paths are resolved against the configuration file's directory.
pub(super) fn resolve(origin: &Path, path: &str) -> PathBuf {
    let path = Path::new(path);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        origin.parent().unwrap_or(Path::new("")).join(path)
    }
}

pub(super) fn is_broadcast(address: &SocketAddr) -> bool {
    match address.ip() {
        IpAddr::V4(ip) => ip.octets()[3] == 255,
        IpAddr::V6(_) => false,
    }
}

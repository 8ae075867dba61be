//! An OCF agent's meta-data (the XML it prints for `meta-data`), parsed into [`MetaData`]:
//! the agent's parameters (which are required) and the actions it advertises.
//!
//! Owns a minimal, bounded scan of the XML: it walks the tags once, skips comments, CDATA,
//! processing instructions and the DOCTYPE, and reads only the `name` and `required`
//! attributes of `<parameter>` inside `<parameters>` and the `name` of `<action>` inside
//! `<actions>`. It is not an XML validator: it checks what it reads (the root is
//! `<resource-agent>` and is closed, every tag ends, names are bounded) and ignores text and
//! other elements. Untrusted bytes become a [`MetaData`] or a [`MetaDataError`], never a panic;
//! the work is linear in the input, which is bounded by [`MAX_META_DATA_BYTES`]. It does not run
//! the agent (that is `shell::ocf::inspect`) and does not judge a configuration against the
//! result (that is `config`).

#![forbid(unsafe_code)]

/// Bound on the meta-data read from an agent (the largest of resource-agents' is about 40 KiB).
pub const MAX_META_DATA_BYTES: usize = 128 * 1024;
/// Bound on the parameters kept.
pub const MAX_PARAMETERS: usize = 128;
/// Bound on the actions kept.
pub const MAX_ACTIONS: usize = 32;
/// Bound on a parameter or action name.
pub const MAX_META_NAME_BYTES: usize = 64;

/// One `<parameter>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parameter {
    pub name: String,
    /// `required="1"` (or `true`/`yes`).
    pub required: bool,
}

/// What the agent says about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetaData {
    /// `<resource-agent name="...">` (may be empty).
    pub name: String,
    /// In document order; a repeated name keeps its first entry.
    pub parameters: Vec<Parameter>,
    /// The `<action name="...">` entries, each once.
    pub actions: Vec<String>,
}

/// Why the bytes are not usable meta-data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaDataError {
    /// More than [`MAX_META_DATA_BYTES`].
    TooLarge,
    /// Not UTF-8 text.
    NotText,
    /// A tag, comment, CDATA section or quoted value does not end, or the root is not closed.
    Unterminated,
    /// A tag that cannot be read (attribute syntax, a stray `<`).
    Malformed,
    /// The first element is not `<resource-agent>`.
    NotResourceAgent,
    /// A parameter or action without a usable name.
    BadName,
    /// More than [`MAX_PARAMETERS`] parameters or [`MAX_ACTIONS`] actions.
    TooMany,
}

impl MetaDataError {
    pub fn as_str(self) -> &'static str {
        match self {
            MetaDataError::TooLarge => "larger than the bound",
            MetaDataError::NotText => "not UTF-8 text",
            MetaDataError::Unterminated => "the XML ends early (a tag, comment or the root is not closed)",
            MetaDataError::Malformed => "a tag cannot be read",
            MetaDataError::NotResourceAgent => "the root element is not <resource-agent>",
            MetaDataError::BadName => "a parameter or action has no usable name",
            MetaDataError::TooMany => "more parameters or actions than the bound",
        }
    }
}

impl core::fmt::Display for MetaDataError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl MetaData {
    pub fn parse(bytes: &[u8]) -> Result<MetaData, MetaDataError> {
        if bytes.len() > MAX_META_DATA_BYTES {
            return Err(MetaDataError::TooLarge);
        }
        let text = core::str::from_utf8(bytes).map_err(|_| MetaDataError::NotText)?;
        let mut meta = MetaData::default();
        // Where the scan is: before the root, inside it, or after it was closed.
        let mut root_open = false;
        let mut root_closed = false;
        let mut in_parameters = false;
        let mut in_actions = false;
        let mut at = 0;
        while let Some(offset) = text[at..].find('<') {
            let rest = &text[at + offset..];
            let skip = |open: &str, close: &str| -> Option<Result<usize, MetaDataError>> {
                rest.starts_with(open).then(|| {
                    rest[open.len()..]
                        .find(close)
                        .map(|end| open.len() + end + close.len())
                        .ok_or(MetaDataError::Unterminated)
                })
            };
            let skipped = skip("<!--", "-->")
                .or_else(|| skip("<![CDATA[", "]]>"))
                .or_else(|| skip("<?", "?>"))
                .or_else(|| skip("<!", ">"));
            if let Some(length) = skipped {
                at += offset + length?;
                continue;
            }
            let (tag, length) = Tag::read(rest)?;
            at += offset + length;
            if root_closed {
                return Err(MetaDataError::Malformed);
            }
            match tag {
                Tag::Start { name, attributes, empty } => {
                    if !root_open {
                        if name != "resource-agent" {
                            return Err(MetaDataError::NotResourceAgent);
                        }
                        meta.name = attributes.value("name").unwrap_or("").to_string();
                        root_open = !empty;
                        root_closed = empty;
                        continue;
                    }
                    match name {
                        "parameters" => in_parameters = !empty,
                        "actions" => in_actions = !empty,
                        "parameter" if in_parameters => {
                            let name = checked_name(attributes.value("name"))?;
                            let required = matches!(attributes.value("required"), Some("1" | "true" | "yes"));
                            if meta.parameters.iter().all(|p| p.name != name) {
                                if meta.parameters.len() == MAX_PARAMETERS {
                                    return Err(MetaDataError::TooMany);
                                }
                                meta.parameters.push(Parameter { name: name.to_string(), required });
                            }
                        }
                        "action" if in_actions => {
                            let name = checked_name(attributes.value("name"))?;
                            if !meta.actions.iter().any(|a| a == name) {
                                if meta.actions.len() == MAX_ACTIONS {
                                    return Err(MetaDataError::TooMany);
                                }
                                meta.actions.push(name.to_string());
                            }
                        }
                        _ => {}
                    }
                }
                Tag::End { name } => match name {
                    "resource-agent" if root_open => root_closed = true,
                    "parameters" => in_parameters = false,
                    "actions" => in_actions = false,
                    _ if !root_open => return Err(MetaDataError::NotResourceAgent),
                    _ => {}
                },
            }
        }
        if !root_closed {
            return Err(if root_open {
                MetaDataError::Unterminated
            } else {
                MetaDataError::NotResourceAgent
            });
        }
        assert!(meta.parameters.len() <= MAX_PARAMETERS && meta.actions.len() <= MAX_ACTIONS);
        Ok(meta)
    }

    /// Whether the agent lists `action` (e.g. `validate-all`) among its actions.
    pub fn advertises(&self, action: &str) -> bool {
        self.actions.iter().any(|a| a == action)
    }

    pub fn parameter(&self, name: &str) -> Option<&Parameter> {
        self.parameters.iter().find(|p| p.name == name)
    }
}

fn checked_name(name: Option<&str>) -> Result<&str, MetaDataError> {
    match name {
        Some(n)
            if !n.is_empty()
                && n.len() <= MAX_META_NAME_BYTES
                && n.chars().all(|c| !c.is_control() && !c.is_whitespace()) =>
        {
            Ok(n)
        }
        _ => Err(MetaDataError::BadName),
    }
}

/// The attributes of one tag, as written (entities are not expanded: the names this module
/// reads never contain them).
struct Attributes<'a> {
    pairs: heapless::Vec<(&'a str, &'a str), MAX_ATTRIBUTES>,
}

/// Attributes kept per tag; the rest are read and dropped (OCF tags have at most five).
const MAX_ATTRIBUTES: usize = 8;

impl<'a> Attributes<'a> {
    fn value(&self, name: &str) -> Option<&'a str> {
        self.pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

// Short-lived, on the stack of `parse` only: boxing the attributes would allocate per tag.
#[allow(clippy::large_enum_variant)]
enum Tag<'a> {
    Start { name: &'a str, attributes: Attributes<'a>, empty: bool },
    End { name: &'a str },
}

/// The characters of tag and attribute names, ASCII only: OCF's are, and Unicode tables would
/// cost the static binary kilobytes for nothing.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')
}

impl<'a> Tag<'a> {
    /// Read the tag at the start of `text` (which begins with `<`): the tag and its length.
    fn read(text: &'a str) -> Result<(Tag<'a>, usize), MetaDataError> {
        let mut at = 1;
        let end_tag = text[at..].starts_with('/');
        if end_tag {
            at += 1;
        }
        let name_length = text[at..].find(|c: char| !is_name_char(c)).unwrap_or(text.len() - at);
        if name_length == 0 {
            return Err(if text.len() == at {
                MetaDataError::Unterminated
            } else {
                MetaDataError::Malformed
            });
        }
        let name = &text[at..at + name_length];
        at += name_length;
        let mut attributes = Attributes { pairs: heapless::Vec::new() };
        loop {
            at += text[at..].len() - text[at..].trim_start().len();
            let rest = &text[at..];
            if rest.is_empty() {
                return Err(MetaDataError::Unterminated);
            }
            if rest.starts_with('>') {
                let tag =
                    if end_tag { Tag::End { name } } else { Tag::Start { name, attributes, empty: false } };
                return Ok((tag, at + 1));
            }
            if rest.starts_with("/>") && !end_tag {
                return Ok((Tag::Start { name, attributes, empty: true }, at + 2));
            }
            if end_tag {
                return Err(MetaDataError::Malformed);
            }
            // name = "value" | name = 'value'
            let key_length = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
            if key_length == 0 {
                return Err(MetaDataError::Malformed);
            }
            let key = &rest[..key_length];
            at += key_length;
            at += text[at..].len() - text[at..].trim_start().len();
            if !text[at..].starts_with('=') {
                return Err(if text.len() == at {
                    MetaDataError::Unterminated
                } else {
                    MetaDataError::Malformed
                });
            }
            at += 1;
            at += text[at..].len() - text[at..].trim_start().len();
            let quote = match text[at..].chars().next() {
                Some(q @ ('"' | '\'')) => q,
                Some(_) => return Err(MetaDataError::Malformed),
                None => return Err(MetaDataError::Unterminated),
            };
            at += 1;
            let value_length = text[at..].find(quote).ok_or(MetaDataError::Unterminated)?;
            let value = &text[at..at + value_length];
            if value.contains('<') {
                return Err(MetaDataError::Malformed);
            }
            at += value_length + 1;
            // Attributes past the bound are read (the tag must still be well formed) and dropped.
            let _ = attributes.pairs.push((key, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<resource-agent name="sample" version="1.0">
<version>1.0</version>
<!-- a comment with <parameter name="not-this"/> inside -->
<longdesc lang="en">Text with a > sign and <![CDATA[ <parameter name="nor-this"/> ]]></longdesc>
<parameters>
<parameter name="path" unique="1" required="1">
<longdesc lang="en">Where.</longdesc>
<content type="string" default="/srv" />
</parameter>
<parameter name='mode' required="0"><content type="string"/></parameter>
<parameter name="flag"/>
</parameters>
<actions>
<action name="start"   timeout="20s" />
<action name="monitor" timeout="20s" interval="10s" depth="0"/>
<action name="monitor" timeout="20s" interval="11s" role="Promoted"/>
<action name="validate-all" timeout="5s" />
</actions>
</resource-agent>
"#;

    #[test]
    fn parameters_required_flags_and_actions_are_read() {
        let meta = MetaData::parse(SAMPLE.as_bytes()).unwrap();
        assert_eq!(meta.name, "sample");
        let parameters: Vec<(&str, bool)> =
            meta.parameters.iter().map(|p| (p.name.as_str(), p.required)).collect();
        assert_eq!(parameters, [("path", true), ("mode", false), ("flag", false)]);
        assert_eq!(meta.actions, ["start", "monitor", "validate-all"]);
        assert!(meta.advertises("validate-all"));
        assert!(!meta.advertises("promote"));
        assert!(meta.parameter("path").is_some_and(|p| p.required));
    }

    #[test]
    fn parameters_and_actions_outside_their_lists_are_not_counted() {
        let text = r#"<resource-agent name="x"><parameter name="stray"/><actions/><action name="a"/>
            <parameters></parameters><parameter name="late"/></resource-agent>"#;
        let meta = MetaData::parse(text.as_bytes()).unwrap();
        assert!(meta.parameters.is_empty());
        assert!(meta.actions.is_empty());
    }

    #[test]
    fn broken_or_foreign_text_is_an_error_not_a_guess() {
        let cut = &SAMPLE[..SAMPLE.find("</actions>").unwrap()];
        for (text, error) in [
            ("", MetaDataError::NotResourceAgent),
            ("usage: agent start|stop|monitor\n", MetaDataError::NotResourceAgent),
            ("<html><body/></html>", MetaDataError::NotResourceAgent),
            (cut, MetaDataError::Unterminated),
            ("<resource-agent name=\"x\"><parameters><parameter name=\"a", MetaDataError::Unterminated),
            ("<resource-agent name=\"x\"><!-- open", MetaDataError::Unterminated),
            ("<resource-agent name=x></resource-agent>", MetaDataError::Malformed),
            (
                "<resource-agent><parameters><parameter/></parameters></resource-agent>",
                MetaDataError::BadName,
            ),
            ("<resource-agent></resource-agent><resource-agent>", MetaDataError::Malformed),
            ("<resource-agent>< parameters></resource-agent>", MetaDataError::Malformed),
        ] {
            assert_eq!(MetaData::parse(text.as_bytes()), Err(error), "{text:?}");
        }
        assert_eq!(MetaData::parse(&[0xff, b'<']), Err(MetaDataError::NotText));
        let huge = vec![b' '; MAX_META_DATA_BYTES + 1];
        assert_eq!(MetaData::parse(&huge), Err(MetaDataError::TooLarge));
    }

    #[test]
    fn the_number_of_parameters_is_bounded() {
        let mut text = String::from("<resource-agent><parameters>");
        for i in 0..=MAX_PARAMETERS {
            text.push_str(&format!("<parameter name=\"p{i}\"/>"));
        }
        text.push_str("</parameters></resource-agent>");
        assert_eq!(MetaData::parse(text.as_bytes()), Err(MetaDataError::TooMany));
    }
}

//! The serde deserializer of one configuration section, read from the parsed tree
//! (`toml::de::DeValue`) with the byte span of every key and value.
//!
//! Owns turning a section's subtree into its serde struct and the span of the first error; it
//! does not parse text (the `toml` crate does, once, for the whole file), explain an error
//! (`sections`) or validate a value (each section's module). It does what
//! `toml::de::ValueDeserializer` does for the types of the sections (the same visitor calls,
//! the same error messages, the error at the same key or value), with one difference that
//! matters for the agent's size: the decoding of a value (integers in their radix, floats)
//! lives in one function, not inlined into every field of every section type. The sections'
//! types have no `Spanned` or `Datetime` fields and their enums have unit variants only, which
//! is all this deserializer supports beyond plain values (a datetime value is offered to the
//! visitor as `toml` offers it, as its private one-key map).

#![forbid(unsafe_code)]

use std::fmt;
use std::ops::Range;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use toml::de::{DeArray, DeString, DeTable, DeValue};
use toml::Spanned;

/// A serde error with the byte span of the key or value it is about (`None` until a value's
/// deserializer places it). The message is serde's or the type's own, unchanged.
#[derive(Debug)]
pub struct SectionError {
    pub message: String,
    pub span: Option<Range<usize>>,
}

impl SectionError {
    fn new(message: &str) -> SectionError {
        SectionError { message: message.to_string(), span: None }
    }

    /// The error placed at `span` unless a deeper value already placed it.
    fn at(mut self, span: Range<usize>) -> SectionError {
        if self.span.is_none() {
            self.span = Some(span);
        }
        self
    }
}

impl fmt::Display for SectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SectionError {}

impl de::Error for SectionError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        SectionError { message: message.to_string(), span: None }
    }
}

/// `value` deserialized as a `T`.
pub fn deserialize<'i, T: de::Deserialize<'i>>(value: Spanned<DeValue<'i>>) -> Result<T, SectionError> {
    let span = value.span();
    T::deserialize(ValueDe { value: value.into_inner(), span })
}

/// A value with its integers and floats decoded: what the visitor is offered.
enum Decoded<'i> {
    Str(DeString<'i>),
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Bool(bool),
    Datetime(toml_datetime::Datetime),
    Array(DeArray<'i>),
    Table(DeTable<'i>),
}

/// Decodes `value` as `toml` does: an integer as the first of i64, u64, i128, u128 that holds
/// it; a float unless it overflows to an infinity it does not spell.
fn decode(value: DeValue<'_>) -> Result<Decoded<'_>, SectionError> {
    Ok(match value {
        DeValue::String(s) => Decoded::Str(s),
        DeValue::Integer(v) => {
            let (text, radix) = (v.as_str(), v.radix());
            if let Ok(v) = i64::from_str_radix(text, radix) {
                Decoded::I64(v)
            } else if let Ok(v) = u64::from_str_radix(text, radix) {
                Decoded::U64(v)
            } else if let Ok(v) = i128::from_str_radix(text, radix) {
                Decoded::I128(v)
            } else if let Ok(v) = u128::from_str_radix(text, radix) {
                Decoded::U128(v)
            } else {
                return Err(SectionError::new("integer number overflowed"));
            }
        }
        DeValue::Float(v) => match v.as_str().parse::<f64>() {
            Ok(f) if !(f.is_infinite() && !v.as_str().contains("inf")) => Decoded::F64(f),
            _ => return Err(SectionError::new("floating-point number overflowed")),
        },
        DeValue::Boolean(v) => Decoded::Bool(v),
        DeValue::Datetime(v) => Decoded::Datetime(v),
        DeValue::Array(v) => Decoded::Array(v),
        DeValue::Table(v) => Decoded::Table(v),
    })
}

struct ValueDe<'i> {
    value: DeValue<'i>,
    span: Range<usize>,
}

impl<'de> de::Deserializer<'de> for ValueDe<'de> {
    type Error = SectionError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SectionError> {
        let span = self.span;
        let result = match decode(self.value) {
            Err(e) => Err(e),
            Ok(Decoded::Str(DeString::Owned(v))) => visitor.visit_string(v),
            Ok(Decoded::Str(DeString::Borrowed(v))) => visitor.visit_borrowed_str(v),
            Ok(Decoded::I64(v)) => visitor.visit_i64(v),
            Ok(Decoded::U64(v)) => visitor.visit_u64(v),
            Ok(Decoded::I128(v)) => visitor.visit_i128(v),
            Ok(Decoded::U128(v)) => visitor.visit_u128(v),
            Ok(Decoded::F64(v)) => visitor.visit_f64(v),
            Ok(Decoded::Bool(v)) => visitor.visit_bool(v),
            Ok(Decoded::Datetime(v)) => visitor.visit_map(toml_datetime::de::DatetimeDeserializer::new(v)),
            Ok(Decoded::Array(v)) => visitor.visit_seq(SeqDe { iter: v.into_iter() }),
            Ok(Decoded::Table(v)) => visitor.visit_map(MapDe { iter: v.into_iter(), value: None }),
        };
        result.map_err(|e| e.at(span))
    }

    // `None` is an absent key; a present key is always `Some`.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, SectionError> {
        let span = self.span.clone();
        visitor.visit_some(self).map_err(|e| e.at(span))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, SectionError> {
        let span = self.span.clone();
        visitor.visit_newtype_struct(self).map_err(|e| e.at(span))
    }

    // An enum is a string (its variant) or a table of one key (the variant) whose value is
    // empty, as `toml` reads them.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, SectionError> {
        let span = self.span;
        match self.value {
            DeValue::String(v) => visitor.visit_enum(v.into_deserializer()),
            DeValue::Table(v) if v.is_empty() => {
                Err(SectionError::new("wanted exactly 1 element, found 0 elements").at(span.clone()))
            }
            DeValue::Table(v) if v.len() != 1 => {
                Err(SectionError::new("wanted exactly 1 element, more than 1 element").at(span.clone()))
            }
            DeValue::Table(v) => match v.into_iter().next() {
                Some((key, value)) => visitor.visit_enum(TableEnum { key, value }),
                None => Err(SectionError::new("expected table with exactly 1 entry, found empty table")),
            },
            _ => Err(SectionError::new("wanted string or table").at(span.clone())),
        }
        .map_err(|e| e.at(span))
    }

    serde::forward_to_deserialize_any! {
        bool u8 u16 u32 u64 u128 i8 i16 i32 i64 i128 f32 f64 char str string seq
        bytes byte_buf map unit struct
        ignored_any unit_struct tuple_struct tuple identifier
    }
}

struct SeqDe<'i> {
    iter: std::vec::IntoIter<Spanned<DeValue<'i>>>,
}

impl<'de> de::SeqAccess<'de> for SeqDe<'de> {
    type Error = SectionError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, SectionError> {
        match self.iter.next() {
            Some(v) => {
                let span = v.span();
                seed.deserialize(ValueDe { value: v.into_inner(), span }).map(Some)
            }
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

type TableIter<'i> = <DeTable<'i> as IntoIterator>::IntoIter;

struct MapDe<'i> {
    iter: TableIter<'i>,
    value: Option<Spanned<DeValue<'i>>>,
}

impl<'de> de::MapAccess<'de> for MapDe<'de> {
    type Error = SectionError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, SectionError> {
        match self.iter.next() {
            Some((key, value)) => {
                let key_span = key.span();
                self.value = Some(value);
                let key: de::value::CowStrDeserializer<'de, SectionError> =
                    key.into_inner().into_deserializer();
                seed.deserialize(key).map(Some).map_err(|e| e.at(key_span))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, SectionError> {
        let value = self.value.take().expect("serde asks for a value only after its key");
        let span = value.span();
        seed.deserialize(ValueDe { value: value.into_inner(), span: span.clone() }).map_err(|e| e.at(span))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// An enum written as a table of one key: the key is the variant.
struct TableEnum<'i> {
    key: Spanned<DeString<'i>>,
    value: Spanned<DeValue<'i>>,
}

impl<'de> de::EnumAccess<'de> for TableEnum<'de> {
    type Error = SectionError;
    type Variant = UnitVariant<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), SectionError> {
        let key_span = self.key.span();
        let key: de::value::CowStrDeserializer<'de, SectionError> = self.key.into_inner().into_deserializer();
        let variant = seed.deserialize(key).map_err(|e| e.at(key_span))?;
        Ok((variant, UnitVariant { value: self.value }))
    }
}

/// The value of a one-key enum table: empty for a unit variant.
struct UnitVariant<'i> {
    value: Spanned<DeValue<'i>>,
}

impl<'de> de::VariantAccess<'de> for UnitVariant<'de> {
    type Error = SectionError;

    fn unit_variant(self) -> Result<(), SectionError> {
        let span = self.value.span();
        match self.value.into_inner() {
            DeValue::Array(values) if values.is_empty() => Ok(()),
            DeValue::Array(_) => Err(SectionError::new("expected empty array").at(span)),
            DeValue::Table(values) if values.is_empty() => Ok(()),
            DeValue::Table(_) => Err(SectionError::new("expected empty table").at(span)),
            other => Err(SectionError::new(&format!("expected table, found {}", other.type_str())).at(span)),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, SectionError> {
        let span = self.value.span();
        seed.deserialize(ValueDe { value: self.value.into_inner(), span })
    }

    // The sections' enums have unit variants only (the module's paragraph).
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, SectionError> {
        let span = self.value.span();
        de::Deserializer::deserialize_any(ValueDe { value: self.value.into_inner(), span }, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, SectionError> {
        let span = self.value.span();
        de::Deserializer::deserialize_any(ValueDe { value: self.value.into_inner(), span }, visitor)
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Debug;

    use serde::de::{DeserializeOwned, IntoDeserializer};
    use toml::de::DeTable;

    use super::deserialize;
    use crate::config::fence_service::FenceServiceConfig;
    use crate::config::resources::ResourcesConfig;
    use crate::config::syslog::SyslogConfig;
    use crate::devices::config::{RelayConfig, WatchdogConfig};
    use crate::devices::console::config::ArrayConfig;
    use crate::snmp::config::SnmpConfig;

    /// Section `key` of `text` read by this deserializer and by `toml`'s own: the same value,
    /// or the same message at the same span. Returns whether it was an error.
    fn same<T: DeserializeOwned + PartialEq + Debug>(text: &str, key: &str) -> bool {
        let (root, errors) = DeTable::parse_recoverable(text);
        assert!(errors.is_empty(), "{text}: {errors:?}");
        let value = root.get_ref().get(key).unwrap_or_else(|| panic!("{text}: no {key}")).clone();
        let theirs = T::deserialize(value.clone().into_deserializer())
            .map_err(|e| (e.message().to_string(), e.span()));
        let ours = deserialize::<T>(value).map_err(|e| (e.message, e.span));
        assert_eq!(ours, theirs, "{text}");
        ours.is_err()
    }

    #[test]
    fn sections_read_as_toml_reads_them() {
        // (text, whether toml refuses it): every kind of value, every error path.
        let relay: &[(&str, bool)] = &[
            ("[relay]\n", false),
            ("[relay]\nhealth_interval_ms = 5000\n[[relay.channels]]\nnode = \"a\"\nboard = \"lcus\"\ndevice = \"/dev/ttyUSB0\"\nchannel = 1\noptions = { ip = \"10.0.0.6\" }\nargs = [\"-x\", \"y\"]\n", false),
            ("[relay]\ncolour = 1\n", true),
            ("[relay]\nhealth_interval_ms = \"5\"\n", true),
            ("[relay]\nhealth_interval_ms = -1\n", true),
            ("[relay]\nhealth_interval_ms = 1.5\n", true),
            ("[relay]\nhealth_interval_ms = 0x7fffffffffffffffffff\n", true),
            ("[relay]\nhealth_interval_ms = 18446744073709551615\n", false),
            ("[relay]\nhealth_failures_before_alarm = 4294967296\n", true),
            ("[relay]\nhealth_interval_ms = 1979-05-27T07:32:00Z\n", true),
            ("[relay]\nchannels = 3\n", true),
            ("[relay]\nchannels = [1]\n", true),
            ("[[relay.channels]]\nnode = \"a\"\n", true),
            ("[[relay.channels]]\nnode = \"a\"\nboard = \"x10\"\n", true),
            ("[[relay.channels]]\nnode = \"a\"\nboard = 7\n", true),
            ("[[relay.channels]]\nnode = \"a\"\nboard = {}\n", true),
            ("[[relay.channels]]\nnode = \"a\"\nboard = { lcus = {} }\n", false),
            ("[[relay.channels]]\nnode = \"a\"\nboard = { lcus = [] }\n", false),
            ("[[relay.channels]]\nnode = \"a\"\nboard = { lcus = [1] }\n", true),
            ("[[relay.channels]]\nnode = \"a\"\nboard = { lcus = { a = 1 } }\n", true),
            ("[[relay.channels]]\nnode = \"a\"\nboard = { lcus = 1 }\n", true),
            ("[[relay.channels]]\nnode = \"a\"\nboard = { lcus = {}, gpio = {} }\n", true),
            ("[[relay.channels]]\nnode = \"a\"\nboard = { x10 = {} }\n", true),
            ("[[relay.channels]]\nnode = \"a\"\nboard = \"gpio\"\noptions = { when = 1979-05-27 }\n", true),
            ("[[relay.channels]]\nnode = \"a\"\nboard = \"gpio\"\noptions = { n = 1 }\n", true),
            ("[[relay.channels]]\nnode = \"a\"\nboard = \"gpio\"\nargs = \"x\"\n", true),
            ("[[relay.channels]]\nnode = \"a\"\nboard = \"gpio\"\n[[relay.channels]]\nnode = 1\n", true),
            ("[[relay.channels]]\nnode = 'a'\nboard = \"gpio\"\nline = 3\nactive_low = true\nstatus_query = \"yes\"\n", true),
            ("[[relay.channels]]\nnode = \"a\\u00e9\"\nboard = \"gpio\"\nline = 0b101\ntimeout_ms = 0o17\n", false),
            ("[[relay.channels]]\nnode = \"a\"\nboard = \"gpio\"\naddress = 256\n", true),
            ("[[relay.channels]]\nnode = \"a\"\nboard = \"gpio\"\nsettle_ms = inf\n", true),
            ("[[relay.channels]]\nnode = \"a\"\nboard = \"gpio\"\nsettle_ms = 1e999\n", true),
        ];
        for (text, refused) in relay {
            assert_eq!(same::<RelayConfig>(text, "relay"), *refused, "{text}");
        }
        assert!(same::<WatchdogConfig>("[watchdog]\ntimeout = 5\n", "watchdog"));
        assert!(!same::<WatchdogConfig>(
            "[watchdog]\ndevice = \"/dev/watchdog1\"\ntimeout_s = 15\n",
            "watchdog"
        ));
        assert!(same::<WatchdogConfig>("watchdog = 3\n", "watchdog"));
        assert!(same::<SnmpConfig>("[snmp]\nlisten = \"nowhere\"\n", "snmp"));
        assert!(same::<SnmpConfig>("[snmp]\nagent_address = \"::1\"\n", "snmp"));
        assert!(same::<SnmpConfig>("[[snmp.targets]]\nname = \"t\"\nversion = \"v4\"\naddress = \"192.0.2.1:162\"\nkind = \"trap\"\n", "snmp"));
        assert!(!same::<SnmpConfig>("[snmp]\nlisten = \"0.0.0.0:161\"\nalive_interval_ms = 60000\n[[snmp.targets]]\nname = \"t\"\nversion = \"v3\"\naddress = \"192.0.2.1:162\"\nkind = \"inform\"\nauth = \"sha256\"\npriv = \"aes128\"\n", "snmp"));
        assert!(same::<ResourcesConfig>("[[resources.group]]\nname = \"db\"\n", "resources"));
        assert!(!same::<ResourcesConfig>("[resources]\nmax_restarts = 3\n[[resources.group]]\nname = \"db\"\nagent = \"ocf:heartbeat:pgsql\"\nparams = { a = \"b\" }\n", "resources"));
        assert!(same::<SyslogConfig>(
            "[syslog]\ntarget = \"192.0.2.1:514\"\nformat = \"rfc1234\"\n",
            "syslog"
        ));
        assert!(!same::<SyslogConfig>("[syslog]\ntarget = \"192.0.2.1:514\"\n", "syslog"));
        assert!(same::<FenceServiceConfig>(
            "[fence_service]\nlisten = \"0.0.0.0:7410\"\nclients = [\"10.0.0.300\"]\n",
            "fence_service"
        ));
        assert!(same::<FenceServiceConfig>("[fence_service]\nlisten = \"0.0.0.0:7410\"\nclients = []\n[[fence_service.plugs]]\nnode = \"a\"\n", "fence_service"));
        assert!(same::<ArrayConfig>("[array]\ndialect = \"adaptec\"\ndevice = \"/dev/x\"\n", "array"));
        assert!(!same::<ArrayConfig>(
            "[array]\ndialect = \"areca\"\ndevice = \"/dev/x\"\nbaud = 115200\n",
            "array"
        ));
    }
}

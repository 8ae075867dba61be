//! The sans-I/O core: pure state machines driven with `(now, input)`.

#![forbid(unsafe_code)]

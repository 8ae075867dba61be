//! The shell: the poll loop.

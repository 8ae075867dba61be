//! The build's tool for the command line's documentation, kept out of the shipped agent (its
//! size budget, docs/design.md "Binary size"): `man` reads `packaging/ha-agent.8` on standard
//! input and prints it with the sections generated from the command table replaced;
//! `bash-completion` prints the completion script. `make cli-docs` rewrites both shipped
//! files with it; a unit test of `cli::docs` keeps them equal to the table. It owns no
//! rendering: that is `ha_agent::cli::docs`.

use std::io::Read;
use std::process::exit;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["man"] => {
            let mut page = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut page) {
                eprintln!("generate-docs: reading the page: {e}");
                exit(2);
            }
            match ha_agent::cli::docs::splice_man(&page) {
                Ok(p) => print!("{p}"),
                Err(e) => {
                    eprintln!("generate-docs: {e}");
                    exit(1);
                }
            }
        }
        ["bash-completion"] => print!("{}", ha_agent::cli::docs::bash_completion()),
        _ => {
            eprintln!("usage: generate-docs man|bash-completion");
            exit(2);
        }
    }
}

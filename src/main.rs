//! The `wsscope` command: the inspector window by default, and subcommands that reuse the same
//! core from a terminal.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use wsscope::cli::{parse_hex, render_accept, render_decode, Paint};
use wsscope::protocol::{AcceptDerivation, Role};

#[derive(Parser, Debug)]
#[command(
    name = "wsscope",
    version,
    about = "See everything RFC 6455 puts on the wire"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Derive Sec-WebSocket-Accept from a Sec-WebSocket-Key, showing every step.
    Accept {
        /// The client's Sec-WebSocket-Key, e.g. dGhlIHNhbXBsZSBub25jZQ==
        key: String,
    },
    /// Decode WebSocket frames from hex and explain every field.
    Decode {
        /// Hex bytes, with or without spaces/colons: '81 85 37 fa 21 3d 7f 9f 4d 51 58'.
        #[arg(required = true, num_args = 1..)]
        hex: Vec<String>,
        /// Who sent the bytes (decides the masking rule). Default: taken from the first frame.
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum RoleArg {
    Client,
    Server,
}

fn paint() -> Paint {
    Paint {
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => wsscope::gui::run(),
        Some(Command::Accept { key }) => {
            if key.trim().is_empty() {
                eprintln!("wsscope accept: the key is empty; pass the Sec-WebSocket-Key value, e.g. dGhlIHNhbXBsZSBub25jZQ==");
                return ExitCode::from(2);
            }
            println!("{}", render_accept(&AcceptDerivation::new(&key), paint()));
            ExitCode::SUCCESS
        }
        Some(Command::Decode { hex, role }) => {
            let bytes = match parse_hex(&hex.join(" ")) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("wsscope decode: {e}");
                    return ExitCode::from(2);
                }
            };
            let sender = role.map(|r| match r {
                RoleArg::Client => Role::Client,
                RoleArg::Server => Role::Server,
            });
            let report = render_decode(&bytes, sender, paint());
            println!("{}", report.text);
            match report.error {
                None => ExitCode::SUCCESS,
                Some(e) => {
                    eprintln!("wsscope decode: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

//! `peti login` and `peti logout`, as Docker's: the password from a prompt
//! (not echoed), from `--password-stdin`, or (warned against) from `-p`;
//! checked with the registry before it is kept.

use std::io::{BufRead, IsTerminal, Read, Write};

use clap::Args;
use runtime::registry::{self, Credentials};

use super::CliError;
use super::args::RegistryArgs;
use super::out::outln;

#[derive(Args)]
pub struct LoginArgs {
    /// The user name.
    #[arg(short, long)]
    pub username: Option<String>,
    /// The password (seen by anyone who can list processes: prefer
    /// --password-stdin).
    #[arg(short, long)]
    pub password: Option<String>,
    /// Read the password from standard input.
    #[arg(long, conflicts_with = "password")]
    pub password_stdin: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// The registry: HOST[:PORT] (Docker Hub if none).
    pub server: Option<String>,
}

#[derive(Args)]
pub struct LogoutArgs {
    /// The registry: HOST[:PORT] (Docker Hub if none).
    pub server: Option<String>,
}

/// Why a login could not even be asked for.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("Cannot perform an interactive login from a non TTY device")]
    NotATerminal,
    #[error("Must provide --username with --password-stdin")]
    NoUsername,
    #[error("reading the {0}: {1}")]
    Read(&'static str, std::io::Error),
    #[error("the password is empty")]
    EmptyPassword,
}

/// `peti login [-u USER] [-p PASS | --password-stdin] [SERVER]`.
pub fn login(args: &LoginArgs) -> Result<(), CliError> {
    let server = server(args.server.as_deref());
    if args.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let credentials = credentials(args).map_err(CliError::Login)?;
    let options = args.registry.options();
    let kept = registry::login(&server, credentials, &options).map_err(engine_error)?;
    eprintln!(
        "WARNING! Your password will be stored unencrypted in {}.",
        kept.display()
    );
    eprintln!();
    outln!("Login Succeeded");
    Ok(())
}

/// `peti logout [SERVER]`.
pub fn logout(args: &LogoutArgs) -> Result<(), CliError> {
    let server = server(args.server.as_deref());
    let options = runtime::registry::Options::default();
    if registry::logout(&server, &options).map_err(engine_error)? {
        outln!("Removing login credentials for {server}");
    } else {
        outln!("Not logged in to {server}");
    }
    Ok(())
}

fn engine_error(error: registry::RegistryError) -> CliError {
    CliError::Engine(runtime::engine::EngineError::Registry(error))
}

/// The registry as typed, the way Docker reads it: a scheme and a path
/// (`https://host:5000/v1/`) are dropped; none at all is Docker Hub.
fn server(typed: Option<&str>) -> String {
    match typed {
        Some(typed) => registry::credentials::hostname(typed),
        None => runtime::image::reference::DOCKER_HUB.to_string(),
    }
}

/// The user name and password: from the flags, standard input, or prompts
/// on the terminal.
fn credentials(args: &LoginArgs) -> Result<Credentials, LoginError> {
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    let username = match &args.username {
        Some(name) => name.trim().to_string(),
        None if args.password_stdin => return Err(LoginError::NoUsername),
        None if terminal => prompt("Username: ")?,
        None => return Err(LoginError::NotATerminal),
    };
    let password = match &args.password {
        Some(password) => password.clone(),
        None if args.password_stdin => {
            let mut text = String::new();
            stdin
                .lock()
                .read_to_string(&mut text)
                .map_err(|e| LoginError::Read("password", e))?;
            text.trim_end_matches(['\n', '\r']).to_string()
        }
        None if terminal => prompt_hidden("Password: ")?,
        None => return Err(LoginError::NotATerminal),
    };
    if password.is_empty() {
        return Err(LoginError::EmptyPassword);
    }
    Ok(Credentials { username, password })
}

fn prompt(text: &str) -> Result<String, LoginError> {
    eprint!("{text}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| LoginError::Read("user name", e))?;
    Ok(line.trim().to_string())
}

/// A prompt whose answer is not echoed: the terminal's ECHO flag is off
/// while it is typed, and put back after, whatever happens.
fn prompt_hidden(text: &str) -> Result<String, LoginError> {
    use nix::sys::termios::{self, LocalFlags, SetArg};
    let stdin = std::io::stdin();
    let saved = termios::tcgetattr(&stdin).map_err(|e| LoginError::Read("password", e.into()))?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    termios::tcsetattr(&stdin, SetArg::TCSANOW, &quiet)
        .map_err(|e| LoginError::Read("password", e.into()))?;
    eprint!("{text}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    eprintln!();
    read.map_err(|e| LoginError::Read("password", e))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

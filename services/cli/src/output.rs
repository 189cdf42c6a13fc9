//! Where results go: stdout, flushed after every write so a pipe (`| jq`) sees each line at once.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use crate::error::CliError;

pub(crate) struct Output {
    w: Box<dyn Write + Send>,
    terminal: bool,
}

impl Output {
    pub fn stdout() -> Self {
        let stdout = std::io::stdout();
        Self { terminal: stdout.is_terminal(), w: Box::new(stdout) }
    }

    /// Whether a person's terminal shows what is written.
    pub fn is_terminal(&self) -> bool {
        self.terminal
    }

    pub fn bytes(&mut self, b: &[u8]) -> Result<(), CliError> {
        self.w.write_all(b)?;
        self.w.flush()?;
        Ok(())
    }

    pub fn text(&mut self, s: &str) -> Result<(), CliError> {
        self.bytes(s.as_bytes())
    }

    pub fn json_pretty<T: Serialize>(&mut self, v: &T) -> Result<(), CliError> {
        let mut text = serde_json::to_string_pretty(v).map_err(std::io::Error::other)?;
        text.push('\n');
        self.text(&text)
    }

    pub fn json_line<T: Serialize>(&mut self, v: &T) -> Result<(), CliError> {
        let mut text = serde_json::to_string(v).map_err(std::io::Error::other)?;
        text.push('\n');
        self.text(&text)
    }
}

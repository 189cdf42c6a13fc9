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

    /// `--print FIELD`: one field of what `--json` would print, on a line of its own.
    pub fn field<T: Serialize>(&mut self, v: &T, field: &str) -> Result<(), CliError> {
        let value = serde_json::to_value(v).map_err(std::io::Error::other)?;
        self.text(&field_line(&value, field))
    }
}

/// Whether a person can be asked something: stdin, stdout and stderr are all a terminal. A
/// script, a pipe (`| tee log`) or a CI job never gets a question it would wait on.
pub(crate) fn can_ask() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}

/// A field for a shell variable without a JSON tool: a string as it is, null (or absent) as an
/// empty line, anything else as JSON.
fn field_line(value: &serde_json::Value, field: &str) -> String {
    let mut text = match value.get(field) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_prints_as_a_shell_variable_wants_it() {
        let v = serde_json::json!({ "id": "e1", "n": 3, "expiresAt": null, "o": { "a": 1 } });
        let lines: Vec<String> = ["id", "n", "expiresAt", "o", "absent"].iter().map(|f| field_line(&v, f)).collect();
        assert_eq!(lines, ["e1\n", "3\n", "\n", "{\"a\":1}\n", "\n"]);
    }
}

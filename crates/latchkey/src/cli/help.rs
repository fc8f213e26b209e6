//! `latchkey help` and `latchkey --help`: the subcommands in two groups, the client commands and
//! the server and operator commands, each line from the subcommand's own description so the
//! list cannot drift from what the binary does.

use clap::{Command, Subcommand};

/// Sets the root command's help to the grouped list.
pub fn grouped(root: Command) -> Command {
    let client: Vec<String> = super::ClientCommand::augment_subcommands(Command::new("client"))
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    let mut client_lines = Vec::new();
    let mut operator_lines = Vec::new();
    for sub in root.get_subcommands() {
        let name = sub.get_name();
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        let about = about.lines().next().unwrap_or("").to_string();
        let subs: Vec<&Command> = sub.get_subcommands().collect();
        if client.iter().any(|c| c == name) {
            if subs.is_empty() {
                client_lines.push((name.to_string(), about));
            } else {
                for s in subs {
                    let about = s.get_about().map(|a| a.to_string()).unwrap_or_default();
                    client_lines.push((format!("{name} {}", s.get_name()), about));
                }
            }
        } else if name == "lock" {
            // `lock` only groups `lock run`: show the command people type.
            for s in subs {
                let about = s.get_about().map(|a| a.to_string()).unwrap_or_default();
                operator_lines.push((format!("{name} {}", s.get_name()), about));
            }
        } else {
            operator_lines.push((name.to_string(), about));
        }
    }
    let width = client_lines
        .iter()
        .chain(&operator_lines)
        .map(|(n, _)| n.len())
        .max()
        .unwrap_or(0);
    let list = |lines: &[(String, String)]| -> String {
        lines
            .iter()
            .map(|(n, a)| format!("  {n:<width$}  {}\n", escape(a)))
            .collect()
    };
    let template = format!(
        "{{before-help}}{{about-with-newline}}\n{{usage-heading}} {{usage}}\n\n\
         Client commands (any Latchkey server; start with `latchkey login`):\n{}\n\
         Server and operator commands:\n{}\n\
         Options:\n{{options}}\n\n\
         `latchkey help COMMAND` or `latchkey COMMAND --help` describes a command. Client commands\n\
         take --json (the API's JSON, for scripts) and --server URL (or LATCHKEY_SERVER);\n\
         docs/cli.md has the schedule and time syntax, the exit codes and the session file.{{after-help}}",
        list(&client_lines),
        list(&operator_lines),
    );
    root.help_template(template)
}

/// Braces in a description would be read as template tags.
fn escape(text: &str) -> String {
    text.replace('{', "(").replace('}', ")")
}

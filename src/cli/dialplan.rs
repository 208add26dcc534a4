//! `dialflow dialplan`: prints the Asterisk dialplan an admin installs, for an app name.

use std::process::ExitCode;

use clap::Args;

/// The shipped snippet (`dialplan/dialflow.conf`), written for the app name `dialflow`.
const DIALPLAN: &str = include_str!("../../dialplan/dialflow.conf");

#[derive(Debug, Args)]
pub struct DialplanArgs {
    /// The ARI application name dialflow registers.
    #[arg(long, default_value = "dialflow")]
    pub app: String,
}

pub fn run(args: &DialplanArgs) -> ExitCode {
    if args.app.is_empty()
        || !args
            .app
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        eprintln!(
            "error: app name `{}` must be letters, digits, `_`, `-` or `.`",
            args.app
        );
        return ExitCode::from(2);
    }
    print!("{}", for_app(&args.app));
    ExitCode::SUCCESS
}

/// The dialplan with every `Stasis(dialflow,…)` pointing at `app`.
pub fn for_app(app: &str) -> String {
    DIALPLAN.replace("Stasis(dialflow,", &format!("Stasis({app},"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_app_everywhere() {
        let text = for_app("outbound");
        assert!(text.contains("Stasis(outbound,amd,"));
        assert!(!text.contains("Stasis(dialflow,"));
        assert!(text.contains("[dialflow-amd]"));
    }
}

//! The verbs that play to the customer or listen to them: `play`, `record`, `gather`,
//! `voicemail_drop` and `wait`.

use super::NodeState;
use crate::core::compile::Cx;
use crate::core::diagnostic::Code;
use crate::core::scenario::Verb;
use crate::core::source::{GatherSrc, OneOrMany, RecordSrc, S, Scalar, VoicemailSrc};

impl Cx<'_> {
    pub(super) fn play(&mut self, play: &S<OneOrMany<S<String>>>, state: &mut NodeState) -> Verb {
        let prompts: Vec<String> = play
            .value
            .0
            .iter()
            .map(|p| state.prompt(self, p, &play.referenced))
            .collect();
        if prompts.is_empty() {
            self.error(
                Code::BadValue,
                self.span(&play.referenced),
                "`play` needs at least one prompt",
            );
        }
        Verb::Play { prompts }
    }

    pub(super) fn record(&mut self, record: &S<Option<RecordSrc>>) -> Verb {
        let r = record.value.as_ref();
        let max_duration_ms = self.duration(
            "max_duration",
            &r.and_then(|r| r.max_duration.clone()),
            10_000,
            500,
            600_000,
        );
        let max_silence_ms = self.duration(
            "max_silence",
            &r.and_then(|r| r.max_silence.clone()),
            2_000,
            0,
            60_000,
        );
        let beep = r.and_then(|r| r.beep.as_ref()).is_some_and(|b| b.value);
        Verb::Record {
            max_duration_ms,
            max_silence_ms,
            beep,
        }
    }

    pub(super) fn gather(&mut self, gather: &S<Option<GatherSrc>>, state: &mut NodeState) -> Verb {
        let g = gather.value.as_ref();
        let prompt_name = g
            .and_then(|g| g.prompt.as_ref())
            .map(|p| state.prompt(self, p, &gather.referenced));
        let max_digits = match g.and_then(|g| g.max_digits.as_ref()) {
            Some(m) if m.value == 0 || m.value > 64 => {
                self.error(
                    Code::BadValue,
                    self.span(&m.referenced),
                    "`max_digits` must be between 1 and 64",
                );
                1
            }
            Some(m) => m.value,
            None => 1,
        };
        let terminator = g
            .and_then(|g| g.terminator.as_ref())
            .and_then(|t| self.terminator(t));
        let timeout_ms = self.duration(
            "timeout",
            &g.and_then(|g| g.timeout.clone()),
            5_000,
            500,
            120_000,
        );
        let digit_timeout_ms = self.duration(
            "digit_timeout",
            &g.and_then(|g| g.digit_timeout.clone()),
            3_000,
            200,
            60_000,
        );
        Verb::Gather {
            prompt: prompt_name,
            max_digits,
            terminator,
            timeout_ms,
            digit_timeout_ms,
        }
    }

    /// A gather's `terminator`: one DTMF key.
    fn terminator(&mut self, t: &S<String>) -> Option<char> {
        let mut chars = t.value.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if c.is_ascii_digit() || matches!(c, '#' | '*' | 'A'..='D') => Some(c),
            _ => {
                self.error(
                    Code::BadValue,
                    self.span(&t.referenced),
                    format!(
                        "`terminator` must be one DTMF key (0-9, *, #, A-D), found `{}`",
                        t.value
                    ),
                );
                None
            }
        }
    }

    pub(super) fn voicemail_drop(&mut self, vm: &S<VoicemailSrc>, state: &mut NodeState) -> Verb {
        Verb::VoicemailDrop {
            prompt: state.prompt(self, &vm.value.prompt, &vm.referenced),
        }
    }

    pub(super) fn wait(&mut self, wait: &S<Scalar>) -> Verb {
        match &wait.value {
            Scalar::Str(s) if s == "hangup" => Verb::Wait { duration_ms: None },
            _ => Verb::Wait {
                duration_ms: Some(self.duration("wait", &Some(wait.clone()), 1_000, 1, 3_600_000)),
            },
        }
    }
}

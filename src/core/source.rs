//! The scenario file as written: serde models of the YAML, every value with its location.
//!
//! These types only describe shape. Meaning (targets exist, outcomes routed, types
//! agree…) is checked by `compile`, which turns them into a `Scenario`.
//!
//! The JSON Schema editors use (`dialflow schema`, `core::schema`) is derived from these
//! same types: a field added here is in the schema too. `Spanned` wrappers are described
//! by the value they wrap (`#[schemars(with = ...)]`).

use std::fmt;
use std::marker::PhantomData;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// A value with the place it was written.
pub type S<T> = Spanned<T>;

/// The top of a scenario file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSrc<N> {
    #[schemars(with = "String")]
    pub name: S<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// The prompt set: audio files live in `prompts/<set>/<prompt>.wav`.
    #[schemars(with = "String")]
    pub prompts: S<String>,
    /// Language of the customers' speech (speech-to-text hint, rules normalisation).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub language: Option<S<String>>,
    /// The intents `classify` sorts answers into (`unknown` is always there): a list of
    /// names, or a map of names to the words and patterns that recognise them.
    #[serde(default)]
    pub intents: IntentsSrc,
    /// The first node; the first node listed when absent.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub start: Option<S<String>>,
    /// Extra results and overrides of the default result → panel status table.
    #[serde(default)]
    #[schemars(with = "Option<OrderedMap<String>>")]
    pub results: Option<OrderedMap<S<String>>>,
    /// Panel statuses whose reports carry the customer's transcript.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub transcript_statuses: Option<Vec<S<String>>>,
    /// Panel statuses that count as a success in the dashboard's success rate
    /// (`[CONNECTED]` when absent).
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub success_statuses: Option<Vec<S<String>>>,
    #[serde(default)]
    #[schemars(with = "Option<TelephonySrc>")]
    pub telephony: Option<S<TelephonySrc>>,
    #[serde(default)]
    #[schemars(with = "Option<LimitsSrc>")]
    pub limits: Option<S<LimitsSrc>>,
    /// Routes for outcomes that a node leaves unrouted, e.g. `hangup: end`.
    #[serde(default)]
    #[schemars(with = "Option<OrderedMap<RouteSrc>>")]
    pub defaults: Option<OrderedMap<S<RouteSrc>>>,
    #[schemars(with = "OrderedMap<N>")]
    pub nodes: S<OrderedMap<N>>,
    /// Test cases run by `dialflow test` against a simulated call.
    #[serde(default)]
    #[schemars(with = "Option<Vec<TestCaseSrc>>")]
    pub tests: Option<Vec<S<TestCaseSrc>>>,
}

/// How the outcome of a call that was never answered becomes a result.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TelephonySrc {
    /// How long the customer's phone may ring before the call counts as missed.
    #[serde(default)]
    #[schemars(with = "Option<Scalar>")]
    pub ring_timeout: Option<S<Scalar>>,
    /// With no event at all for this long after originate, the call is `user_didnt_answer`.
    #[serde(default)]
    #[schemars(with = "Option<Scalar>")]
    pub watchdog: Option<S<Scalar>>,
    /// Q.850 hangup causes per result, replacing the defaults for the results named.
    #[serde(default)]
    #[schemars(with = "Option<OrderedMap<Vec<u16>>>")]
    pub causes: Option<OrderedMap<Vec<S<u16>>>>,
    /// Fragments of Asterisk's cause text per result (e.g. `banned: [congest]`).
    #[serde(default)]
    #[schemars(with = "Option<OrderedMap<Vec<String>>>")]
    pub cause_text: Option<OrderedMap<Vec<S<String>>>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsSrc {
    /// Most node entries one call may make (the run-time loop guard).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub max_steps: Option<S<u32>>,
    /// Longest a call may last once answered.
    #[serde(default)]
    #[schemars(with = "Option<Scalar>")]
    pub max_duration: Option<S<Scalar>>,
    /// How much longer than its audio a prompt may take before it counts as failed.
    #[serde(default)]
    #[schemars(with = "Option<Scalar>")]
    pub prompt_grace: Option<S<Scalar>>,
}

/// One node: exactly one verb, plus the fields every node may have.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeSrc {
    // Verbs: exactly one of these.
    #[serde(default)]
    #[schemars(with = "Option<OneOrMany<String>>")]
    pub play: Option<S<OneOrMany<S<String>>>>,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<Option<RecordSrc>>")]
    pub record: Option<S<Option<RecordSrc>>>,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<Option<ClassifySrc>>")]
    pub classify: Option<S<Option<ClassifySrc>>>,
    #[serde(default)]
    #[schemars(with = "Option<Vec<CaseSrc>>")]
    pub branch: Option<S<Vec<S<CaseSrc>>>>,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<Option<GatherSrc>>")]
    pub gather: Option<S<Option<GatherSrc>>>,
    #[serde(default)]
    #[schemars(with = "Option<OperatorSrc>")]
    pub originate_operator: Option<S<OperatorSrc>>,
    #[serde(default)]
    #[schemars(with = "Option<ConnectAgentSrc>")]
    pub connect_agent: Option<S<ConnectAgentSrc>>,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<Option<AmdSrc>>")]
    pub amd: Option<S<Option<AmdSrc>>>,
    #[serde(default)]
    #[schemars(with = "Option<VoicemailSrc>")]
    pub voicemail_drop: Option<S<VoicemailSrc>>,
    #[serde(default)]
    #[schemars(with = "Option<OrderedMap<Scalar>>")]
    pub set: Option<S<OrderedMap<S<Scalar>>>>,
    #[serde(default)]
    #[schemars(with = "Option<HookSrc>")]
    pub hook: Option<S<HookSrc>>,
    #[serde(default)]
    #[schemars(with = "Option<Scalar>")]
    pub wait: Option<S<Scalar>>,
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<Option<HangupSrc>>")]
    pub hangup: Option<S<Option<HangupSrc>>>,

    // Common to every verb.
    #[serde(default)]
    pub description: Option<String>,
    /// The provisional result from the moment the node is entered.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub set_result: Option<S<String>>,
    /// Report the current result's panel status when the node is entered.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub report: Option<S<bool>>,
    /// The node runs at most this many times per call; then its `exhausted` route is taken.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub max_visits: Option<S<u32>>,
    /// Route for the verb's main outcome (play/record/wait: finished, set: next, …).
    #[serde(default)]
    #[schemars(with = "Option<RouteSrc>")]
    pub next: Option<S<RouteSrc>>,
    /// Route when no `branch` case matches.
    #[serde(default, rename = "else")]
    #[schemars(with = "Option<RouteSrc>")]
    pub otherwise: Option<S<RouteSrc>>,
    /// Routes by outcome name; `default` covers the outcomes not listed.
    #[serde(default)]
    #[schemars(with = "Option<OrderedMap<RouteSrc>>")]
    pub on: Option<OrderedMap<S<RouteSrc>>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordSrc {
    #[serde(default)]
    #[schemars(with = "Option<Scalar>")]
    pub max_duration: Option<S<Scalar>>,
    #[serde(default)]
    #[schemars(with = "Option<Scalar>")]
    pub max_silence: Option<S<Scalar>>,
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub beep: Option<S<bool>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassifySrc {
    /// The `record` node whose recording is classified; the latest recording when absent.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub recording: Option<S<String>>,
    /// A prompt that plays while speech-to-text and the intent classifier run.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub filler: Option<S<String>>,
    /// The longest the classification may take after the filler ends.
    #[serde(default)]
    #[schemars(with = "Option<Scalar>")]
    pub timeout: Option<S<Scalar>>,
    /// A Rhai function that sees the classification (intent, transcript, lead) and
    /// returns the intent to use: an override or a correction.
    #[serde(default)]
    #[schemars(with = "Option<HookSrc>")]
    pub post: Option<S<HookSrc>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseSrc {
    #[schemars(with = "String")]
    pub when: S<String>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub goto: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub result: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub report: Option<S<bool>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatherSrc {
    /// Plays while digits are collected; the first digit cuts it off.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub prompt: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub max_digits: Option<S<u32>>,
    /// A key that ends the input early (usually `#`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub terminator: Option<S<String>>,
    /// How long to wait for the first digit once the prompt has ended.
    #[serde(default)]
    #[schemars(with = "Option<Scalar>")]
    pub timeout: Option<S<Scalar>>,
    /// How long to wait for each further digit.
    #[serde(default)]
    #[schemars(with = "Option<Scalar>")]
    pub digit_timeout: Option<S<Scalar>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorSrc {
    /// Logical operator name, resolved to an endpoint or queue by dialflow's configuration.
    #[schemars(with = "String")]
    pub operator: S<String>,
    /// Logical caller-id name from the configuration.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub caller_id: Option<S<String>>,
    /// How long the operator's phone may ring.
    #[serde(default)]
    #[schemars(with = "Option<Scalar>")]
    pub timeout: Option<S<Scalar>>,
    /// A prompt that plays (repeatedly) to the customer while the operator's phone rings.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub hold: Option<S<String>>,
}

/// `connect_agent`: the customer waits in a holding bridge until an agent of the queue
/// is free, then is bridged to them.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectAgentSrc {
    /// A queue (skill) named in dialflow's configuration (`queues:`).
    #[schemars(with = "String")]
    pub queue: S<String>,
    /// How long the customer may wait for an agent (`no_agent` after it).
    #[serde(default)]
    #[schemars(with = "Option<Scalar>")]
    pub timeout: Option<S<Scalar>>,
    /// A prompt that plays (repeatedly) to the customer while they wait.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub hold: Option<S<String>>,
    /// Asterisk's music-on-hold class (`default`) played in the holding bridge instead.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub music_on_hold: Option<S<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AmdSrc {
    /// How long to wait for the call to come back from the dialplan's AMD hop.
    #[serde(default)]
    #[schemars(with = "Option<Scalar>")]
    pub timeout: Option<S<Scalar>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VoicemailSrc {
    #[schemars(with = "String")]
    pub prompt: S<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HookSrc {
    /// A `.rhai` file, relative to the scenario file.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub script: Option<S<String>>,
    /// Inline Rhai source, instead of `script`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub code: Option<S<String>>,
    /// The function to call; it returns the name of one of `outcomes` (for a `hook` node)
    /// or of an intent (for `classify`'s `post`).
    #[schemars(with = "String")]
    pub function: S<String>,
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub outcomes: Option<S<Vec<S<String>>>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HangupSrc {}

/// Where an outcome leads: a node name, `end`, or `{goto, result, report}`.
#[derive(Debug, Clone)]
pub struct RouteSrc {
    pub goto: Option<S<String>>,
    pub result: Option<S<String>>,
    pub report: Option<S<bool>>,
}

impl<'de> Deserialize<'de> for RouteSrc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RouteVisitor;
        impl<'de> Visitor<'de> for RouteVisitor {
            type Value = RouteSrc;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a node name, `end`, or a mapping with goto/result/report")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<RouteSrc, E> {
                // A bare name carries no span of its own; the caller's Spanned wrapper has it.
                let goto = Spanned {
                    value: s.to_string(),
                    referenced: Location::UNKNOWN,
                    defined: Location::UNKNOWN,
                };
                Ok(RouteSrc {
                    goto: Some(goto),
                    result: None,
                    report: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RouteSrc, A::Error> {
                let mut route = RouteSrc {
                    goto: None,
                    result: None,
                    report: None,
                };
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "goto" => route.goto = Some(map.next_value()?),
                        "result" => route.result = Some(map.next_value()?),
                        "report" => route.report = Some(map.next_value()?),
                        other => {
                            return Err(de::Error::unknown_field(
                                other,
                                &["goto", "result", "report"],
                            ));
                        }
                    }
                }
                Ok(route)
            }
        }
        d.deserialize_any(RouteVisitor)
    }
}

/// A scalar whose meaning depends on where it is (a duration, a template, `hangup`…).
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Str(String),
    Num(f64),
    Bool(bool),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Str(s) => f.write_str(s),
            Scalar::Num(n) => write!(f, "{n}"),
            Scalar::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a single value (text, number or true/false)")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(s.to_string()))
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(b))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Scalar, E> {
                Ok(Scalar::Num(n as f64))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Scalar, E> {
                Ok(Scalar::Num(n as f64))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> Result<Scalar, E> {
                Ok(Scalar::Num(n))
            }
        }
        d.deserialize_any(ScalarVisitor)
    }
}

/// One item or a list of them (`play: hello` or `play: [hello, onhold]`).
#[derive(Debug)]
pub struct OneOrMany<T>(pub Vec<T>);

impl<'de> Deserialize<'de> for OneOrMany<S<String>> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = OneOrMany<S<String>>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a prompt name or a list of prompt names")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(OneOrMany(vec![Spanned {
                    value: s.to_string(),
                    referenced: Location::UNKNOWN,
                    defined: Location::UNKNOWN,
                }]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(OneOrMany(items))
            }
        }
        d.deserialize_any(ListVisitor)
    }
}

/// A YAML mapping kept in file order with the location of every key, duplicates included
/// (the compiler reports them with both places).
#[derive(Debug)]
pub struct OrderedMap<V>(pub Vec<(S<String>, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key()? {
                    entries.push((key, map.next_value()?));
                }
                Ok(OrderedMap(entries))
            }
        }
        d.deserialize_map(MapVisitor(PhantomData))
    }
}

/// Deserializes a field that is meaningful even when empty (`hangup:` with no value):
/// present-with-null becomes `Some(None)`, absent stays `None` through `#[serde(default)]`.
fn present<'de, D, T>(d: D) -> Result<Option<S<Option<T>>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Some(Spanned::<Option<T>>::deserialize(d)?))
}

impl<N> ScenarioSrc<N> {
    /// Separates the nodes from the rest, keeping the node names (with their places) in
    /// the header so both parse paths of the compiler produce the same shapes.
    pub fn split(self) -> (ScenarioSrc<de::IgnoredAny>, Vec<(S<String>, N)>) {
        let Spanned {
            value: OrderedMap(entries),
            referenced,
            defined,
        } = self.nodes;
        let names = entries
            .iter()
            .map(|(name, _)| (name.clone(), de::IgnoredAny))
            .collect();
        let header = ScenarioSrc {
            name: self.name,
            description: self.description,
            prompts: self.prompts,
            language: self.language,
            intents: self.intents,
            start: self.start,
            results: self.results,
            transcript_statuses: self.transcript_statuses,
            success_statuses: self.success_statuses,
            telephony: self.telephony,
            limits: self.limits,
            defaults: self.defaults,
            nodes: Spanned {
                value: OrderedMap(names),
                referenced,
                defined,
            },
            tests: self.tests,
        };
        (header, entries)
    }
}

/// One test case of a scenario: who the simulated customer is, what the stubbed
/// classifier answers, and what the call must end with.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestCaseSrc {
    #[schemars(with = "String")]
    pub name: S<String>,
    #[serde(default)]
    #[schemars(with = "Option<CustomerSrc>")]
    pub customer: Option<S<CustomerSrc>>,
    /// What the operator's phone does: `answer`, `busy`, `no_answer` or `refused`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub operator: Option<S<String>>,
    /// The classifier's answer for each recording, in order.
    #[serde(default)]
    #[schemars(with = "Option<Vec<StubSrc>>")]
    pub classify: Option<Vec<S<StubSrc>>>,
    #[serde(default)]
    pub lead: Option<LeadSrc>,
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub attempt: Option<S<u32>>,
    #[schemars(with = "ExpectSrc")]
    pub expect: S<ExpectSrc>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerSrc {
    /// A duration (answers after it), or what happens instead: busy, poweroff,
    /// noresponse, unavailable, rejected, congestion, noanswer, lost, refused.
    #[serde(default)]
    #[schemars(with = "Option<Scalar>")]
    pub answer: Option<S<Scalar>>,
    /// What the customer says into each recording, in order.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub says: Vec<S<String>>,
    /// Hangs up this long after answering.
    #[serde(default)]
    #[schemars(with = "Option<Scalar>")]
    pub hangs_up_at: Option<S<Scalar>>,
    #[serde(default)]
    #[schemars(with = "Vec<PressSrc>")]
    pub presses: Vec<S<PressSrc>>,
    /// What answering-machine detection says: HUMAN, MACHINE or NOTSURE.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub amd: Option<S<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PressSrc {
    #[schemars(with = "String")]
    pub digit: S<String>,
    /// When, after answering.
    #[schemars(with = "Scalar")]
    pub at: S<Scalar>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadSrc {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub custom: Option<OrderedMap<String>>,
}

/// A stubbed classification: an intent name, or `{intent, transcript}`, `empty`,
/// `{failed: reason}`, `{quota: reason}`.
#[derive(Debug, Clone, Default)]
pub struct StubSrc {
    pub intent: Option<String>,
    pub transcript: Option<String>,
    pub failed: Option<String>,
    pub quota: Option<String>,
}

impl<'de> Deserialize<'de> for StubSrc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct StubVisitor;
        impl<'de> Visitor<'de> for StubVisitor {
            type Value = StubSrc;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "an intent name, `empty`, or a mapping with intent/transcript/failed/quota",
                )
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<StubSrc, E> {
                Ok(StubSrc {
                    intent: Some(s.to_string()),
                    ..StubSrc::default()
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StubSrc, A::Error> {
                let mut stub = StubSrc::default();
                while let Some(key) = map.next_key::<String>()? {
                    let slot = match key.as_str() {
                        "intent" => &mut stub.intent,
                        "transcript" => &mut stub.transcript,
                        "failed" => &mut stub.failed,
                        "quota" => &mut stub.quota,
                        other => {
                            return Err(de::Error::unknown_field(
                                other,
                                &["intent", "transcript", "failed", "quota"],
                            ));
                        }
                    };
                    *slot = Some(map.next_value()?);
                }
                Ok(stub)
            }
        }
        d.deserialize_any(StubVisitor)
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectSrc {
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub result: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub status: Option<S<String>>,
    /// The nodes entered, in order.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub path: Option<Vec<S<String>>>,
    /// Whether the final report carries the transcript.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub transcript_sent: Option<S<bool>>,
    /// The panel statuses reported, in order.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub reports: Option<Vec<S<String>>>,
    /// Variables (`vars.*`) at the end of the call.
    #[serde(default)]
    #[schemars(with = "Option<OrderedMap<Scalar>>")]
    pub vars: Option<OrderedMap<S<Scalar>>>,
}

/// `intents: [yes, no]` or `intents: { yes: [bale, sure], no: { keywords: [..], patterns: [..] } }`.
#[derive(Debug, Default)]
pub struct IntentsSrc(pub Vec<(S<String>, Option<IntentRuleSrc>)>);

/// The words and regular expressions that recognise one intent in a transcript.
#[derive(Debug, Default)]
pub struct IntentRuleSrc {
    pub keywords: Vec<S<String>>,
    pub patterns: Vec<S<String>>,
}

impl<'de> Deserialize<'de> for IntentsSrc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct IntentsVisitor;
        impl<'de> Visitor<'de> for IntentsVisitor {
            type Value = IntentsSrc;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of intent names, or a map of intent names to keywords/patterns")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<IntentsSrc, A::Error> {
                let mut out = Vec::new();
                while let Some(name) = seq.next_element::<S<String>>()? {
                    out.push((name, None));
                }
                Ok(IntentsSrc(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IntentsSrc, A::Error> {
                let mut out = Vec::new();
                while let Some(name) = map.next_key::<S<String>>()? {
                    let rule: Option<IntentRuleSrc> = map.next_value()?;
                    out.push((name, Some(rule.unwrap_or_default())));
                }
                Ok(IntentsSrc(out))
            }
        }
        d.deserialize_any(IntentsVisitor)
    }
}

impl<'de> Deserialize<'de> for IntentRuleSrc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RuleVisitor;
        impl<'de> Visitor<'de> for RuleVisitor {
            type Value = IntentRuleSrc;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of keywords, or a mapping with keywords and patterns")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<IntentRuleSrc, A::Error> {
                let mut keywords = Vec::new();
                while let Some(k) = seq.next_element::<S<String>>()? {
                    keywords.push(k);
                }
                Ok(IntentRuleSrc {
                    keywords,
                    patterns: Vec::new(),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IntentRuleSrc, A::Error> {
                let mut rule = IntentRuleSrc::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "keywords" => rule.keywords = map.next_value()?,
                        "patterns" => rule.patterns = map.next_value()?,
                        other => {
                            return Err(de::Error::unknown_field(other, &["keywords", "patterns"]));
                        }
                    }
                }
                Ok(rule)
            }
        }
        d.deserialize_any(RuleVisitor)
    }
}

//! The one builder of a call's `Deployment` from the configuration: every call the
//! program places (a campaign's lead, a number given to `run --scenario`) is dialed
//! with the dial strings, logical names and formats it yields.

use crate::ari::translate::Deployment;
use crate::config::Config;
use crate::core::scenario::Scenario;

/// What a campaign may set for its own calls instead of the configuration's defaults.
/// Never taken from a lead or an agent (seed 001: the server applies prefix and
/// caller id).
#[derive(Debug, Clone, Copy, Default)]
pub struct CampaignDialing<'a> {
    pub prefix: Option<&'a str>,
    pub caller_id: Option<&'a str>,
}

/// How to dial `phone` through `scenario`.
pub fn deployment(
    config: &Config,
    campaign: CampaignDialing<'_>,
    scenario: &Scenario,
    phone: &str,
) -> Deployment {
    let prefix = campaign.prefix.unwrap_or(&config.dial.prefix);
    Deployment {
        app: config.ari.app.clone(),
        customer_endpoint: config.dial_string_with(prefix, phone),
        operators: config.operators.clone(),
        caller_ids: config.caller_ids.clone(),
        customer_caller_id: campaign
            .caller_id
            .map(str::to_string)
            .or_else(|| config.dial.caller_id.clone()),
        sound_prefix: scenario.prompt_set.clone(),
        amd_context: config.amd_context.clone(),
        formats: config.dial.formats.clone(),
        scenario_name: scenario.name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::parse(
            "t",
            "ari: {url: \"http://127.0.0.1:1\", user: u, password: p, app: dialflow}\n\
             dial: {template: \"PJSIP/{number}@trunk\", prefix: \"9\", caller_id: \"+15550100\"}\n",
            |_| None,
        )
        .unwrap()
    }

    fn scenario() -> std::sync::Arc<Scenario> {
        crate::load::compile_file(
            std::path::Path::new("scenarios/salehi.yaml"),
            &crate::load::LoadOptions::default(),
        )
        .scenario
        .unwrap()
    }

    #[test]
    fn prefix_and_caller_id_come_from_the_campaign_or_the_configuration() {
        let scenario = scenario();
        let d = deployment(
            &config(),
            CampaignDialing::default(),
            &scenario,
            "+989121234567",
        );
        assert_eq!(d.customer_endpoint, "PJSIP/9989121234567@trunk");
        assert_eq!(d.customer_caller_id.as_deref(), Some("+15550100"));
        assert_eq!(d.app, "dialflow");
        assert_eq!(d.sound_prefix, scenario.prompt_set);
        let own = CampaignDialing {
            prefix: Some("0"),
            caller_id: Some("+982100000000"),
        };
        let d = deployment(&config(), own, &scenario, "+989121234567");
        assert_eq!(d.customer_endpoint, "PJSIP/0989121234567@trunk");
        assert_eq!(d.customer_caller_id.as_deref(), Some("+982100000000"));
    }
}

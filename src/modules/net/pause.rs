//! `pause`: waits a number of seconds or minutes on the controller without touching the
//! target; never changed. Prompts that wait for input need a terminal, which non-interactive
//! runs do not have, so a prompt without a duration fails at run time with a clear message.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::core::{
    Module, ModuleError, ModuleSpec, ParamKind, ParamSpec, Plan, ResultMap, TaskCtx,
};
use crate::modules::args::{Args, Rules, value_to_string};

/// The `pause` module.
pub struct Pause;

/// Parameters of `pause`.
pub static SPEC: ModuleSpec = ModuleSpec {
    name: "pause",
    doc: "Waits a number of seconds or minutes (prompts need a terminal and are refused in non-interactive runs).",
    params: &[
        ParamSpec::new(
            "seconds",
            ParamKind::Raw,
            "Seconds to wait (may be fractional).",
        ),
        ParamSpec::new(
            "minutes",
            ParamKind::Raw,
            "Minutes to wait (may be fractional).",
        ),
        ParamSpec::new(
            "prompt",
            ParamKind::Str,
            "Text shown while waiting; without a duration it would wait for input (refused).",
        ),
        ParamSpec::new(
            "echo",
            ParamKind::Bool,
            "Echo typed input (accepted; input is never read).",
        ),
    ],
    free_form: false,
};

/// Argument rules of `pause`.
pub const RULES: Rules = Rules {
    exclusive: &[&["seconds", "minutes"]],
    one_of: &[],
};

fn number(v: Option<&Value>, name: &str) -> Result<Option<f64>, ModuleError> {
    let Some(v) = v else { return Ok(None) };
    let n = match v {
        Value::Number(n) => n.as_f64(),
        other => value_to_string(other).and_then(|s| s.trim().parse::<f64>().ok()),
    };
    match n {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
        _ => Err(ModuleError::Args(format!(
            "pause: {name} must be a non-negative number, got {v}"
        ))),
    }
}

/// The wait of a pause task in seconds, or why it cannot run non-interactively.
pub fn duration(
    seconds: Option<f64>,
    minutes: Option<f64>,
    prompt: Option<&str>,
) -> Result<f64, ModuleError> {
    match (seconds, minutes) {
        (Some(s), _) => Ok(s),
        (None, Some(m)) => Ok(m * 60.0),
        (None, None) => Err(ModuleError::failed(match prompt {
            Some(p) => format!(
                "pause: the prompt {p:?} waits for input from a terminal, but this run is not interactive; set seconds or minutes instead"
            ),
            None => "pause: without seconds or minutes it waits for a key press from a terminal, but this run is not interactive; set seconds or minutes".to_string(),
        })),
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[async_trait::async_trait]
impl Module for Pause {
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }

    async fn plan(&self, _ctx: &TaskCtx<'_>, args: &ResultMap) -> Result<Plan, ModuleError> {
        let a = Args::parse(&SPEC, args)?;
        let seconds = number(a.value("seconds"), "seconds")?;
        let minutes = number(a.value("minutes"), "minutes")?;
        let prompt = a.str("prompt")?;
        let secs = duration(seconds, minutes, prompt.as_deref())?;
        let echo = a.bool("echo", true)?;
        let start = now();
        tokio::time::sleep(Duration::from_secs_f64(secs)).await;
        let stop = now();
        let mut result = ResultMap::new();
        let stdout = match (seconds, minutes) {
            (None, Some(m)) => format!("Paused for {m} minutes"),
            _ => format!("Paused for {secs} seconds"),
        };
        if let Some(p) = &prompt {
            result.insert("prompt".into(), p.clone().into());
        }
        result.insert("start".into(), start.into());
        result.insert("stop".into(), stop.into());
        result.insert("delta".into(), (stop - start).round().into());
        result.insert("echo".into(), echo.into());
        result.insert("user_input".into(), "".into());
        result.insert("stdout".into(), stdout.into());
        Ok(Plan::Unchanged { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modules::testutil::Harness;
    use serde_json::json;

    #[test]
    fn durations() {
        assert_eq!(duration(Some(2.0), None, None).unwrap(), 2.0);
        assert_eq!(duration(None, Some(0.5), Some("x")).unwrap(), 30.0);
        let e = duration(None, None, Some("Continue?"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"Continue?\"") && e.contains("not interactive"),
            "{e}"
        );
        assert!(number(Some(&json!("-1")), "seconds").is_err());
        assert_eq!(number(Some(&json!("1.5")), "seconds").unwrap(), Some(1.5));
    }

    #[tokio::test]
    async fn sleeps_and_never_changes() {
        let h = Harness::new();
        let t0 = std::time::Instant::now();
        let r = h
            .assert_unchanged(&Pause, &json!({"seconds": "0.3", "prompt": "wait"}))
            .await;
        assert!(t0.elapsed() >= Duration::from_millis(300));
        assert_eq!(r["stdout"], "Paused for 0.3 seconds");
        let e = h
            .apply(&Pause, &json!({"prompt": "go?"}))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("not interactive"), "{e}");
    }
}

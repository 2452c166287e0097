//! Failed operations in the script's log: whatever service a failure comes from (a kv quota, a
//! missing bundle file, a template error, an egress denial, a trapped WebAssembly module), the
//! script's log gets one `warn` line naming the operation, what it was about (the key, path,
//! URL or module) and the error's code and message, tagged with the invocation's request id —
//! so an operator can go from a user's failed request to its cause.

use kiln_js::{HostCall, HostError, LogLevel, LogSink, ScriptLog};

/// Longest subject (key, path, URL) quoted in a log line, in characters.
const MAX_SUBJECT_CHARS: usize = 200;

/// What is needed to report a call's failure once the call itself has been handed over.
pub(super) struct Pending {
    script: String,
    version: i64,
    request_id: Option<String>,
    what: String,
}

impl Pending {
    /// Remembers `call`'s script, request id and a description of it.
    pub(super) fn of(call: &HostCall) -> Self {
        Pending {
            script: call.script.name.clone(),
            version: call.script.version,
            request_id: call.request_id.as_deref().map(str::to_owned),
            what: describe(call),
        }
    }

    /// Writes the failure to the script's log.
    pub(super) fn report(self, log: &dyn LogSink, error: &HostError) {
        log.log(ScriptLog {
            script: self.script,
            version: self.version,
            level: LogLevel::Warn,
            message: format!("{} failed: {}: {}", self.what, error.code, error.message),
            request_id: self.request_id,
            time_ms: crate::auth::now_ms(),
        });
    }
}

/// `kv.get "cart:1"`, `fetch https://…`, `files.read "data/x.json"`: the operation and, when
/// its arguments name one, its subject.
fn describe(call: &HostCall) -> String {
    let subject = ["url", "path", "key", "name", "module"]
        .iter()
        .find_map(|field| call.args.get(field).and_then(|v| v.as_str()));
    match subject {
        None => call.op.clone(),
        Some(subject) => {
            let mut quoted: String = subject.chars().take(MAX_SUBJECT_CHARS).collect();
            if quoted.len() < subject.len() {
                quoted.push('…');
            }
            format!("{} {quoted:?}", call.op)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use kiln_js::{
        Bundle, BundleFile, BundleLimits, HostCall, HostError, Limits, LogSink, ReplyBytes,
        ScriptLog, ScriptVersion,
    };

    use super::Pending;

    #[derive(Default)]
    struct Lines(Mutex<Vec<ScriptLog>>);

    impl LogSink for Lines {
        fn log(&self, entry: ScriptLog) {
            self.0.lock().unwrap().push(entry);
        }
    }

    fn call(op: &str, args: serde_json::Value) -> HostCall {
        let main = BundleFile {
            path: "main.js".into(),
            content: b"export function init() {}".to_vec(),
        };
        let bundle = Bundle::build(vec![main], &BundleLimits::default()).expect("bundle");
        let script = ScriptVersion::new(
            "shop",
            3,
            Arc::new(bundle),
            Limits::default(),
            Default::default(),
            Vec::new(),
        );
        HostCall {
            script: Arc::new(script),
            op: op.into(),
            args,
            bytes: None,
            request_id: Some("req-7".into()),
            invocation: Some(1),
            identity: None,
            cpu_budget: std::time::Duration::from_secs(1),
            reply: ReplyBytes::default(),
        }
    }

    #[test]
    fn a_failure_names_the_operation_its_subject_and_the_request() {
        let lines = Lines::default();
        let pending = Pending::of(&call("kv.set", serde_json::json!({"key": "cart:1"})));
        pending.report(
            &lines,
            &HostError::new("KV_QUOTA_EXCEEDED", "too many keys"),
        );
        let lines = lines.0.lock().unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!((lines[0].script.as_str(), lines[0].version), ("shop", 3));
        assert_eq!(lines[0].request_id.as_deref(), Some("req-7"));
        assert_eq!(
            lines[0].message,
            r#"kv.set "cart:1" failed: KV_QUOTA_EXCEEDED: too many keys"#
        );
    }

    #[test]
    fn long_subjects_are_cut_and_operations_without_one_are_named_alone() {
        let long = "k".repeat(1000);
        let described = super::describe(&call("kv.get", serde_json::json!({ "key": long })));
        assert!(described.chars().count() < 220, "{described}");
        assert!(described.ends_with("…\""), "{described}");
        assert_eq!(
            super::describe(&call("markdown.render", serde_json::json!({"text": "x"}))),
            "markdown.render"
        );
    }
}

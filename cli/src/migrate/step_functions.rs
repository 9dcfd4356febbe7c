//! serverless-step-functions' `stepFunctions.stateMachines` → `resources.stateMachines`
//! (its `Fn::GetAtt: [fn, Arn]` becomes `${fn:…}` in the references pass).

use super::tree;
use super::Cx;
use crate::manifest::node::Node;

pub fn convert(root: &mut Node, cx: &mut Cx) {
    let Some((k, sf)) = tree::take(root, "stepFunctions") else {
        return;
    };
    for (sk, sv) in tree::entries(&sf) {
        match sk.as_str() {
            Some("stateMachines") => {}
            Some("validate" | "noOutput") => cx.removed(
                sk,
                format!("stepFunctions.{}", sk.as_str().unwrap_or_default()),
                "serverless-step-functions setting; removed",
            ),
            Some(other) => cx.todo(
                sk,
                format!("stepFunctions.{other}"),
                format!("`{other}` (activities…) is not supported; removed"),
            ),
            None => {}
        }
        let _ = sv;
    }
    let Some(machines) = sf.get("stateMachines") else {
        cx.removed(&k, "stepFunctions", "no state machines; removed");
        return;
    };
    let mut out = Vec::new();
    for (name_key, m) in tree::entries(machines) {
        let key = name_key.as_str().unwrap_or_default();
        let path = format!("stepFunctions.stateMachines.{key}");
        let name = tree::kebab(key);
        let mut body = tree::map(vec![]);
        body.mark = name_key.mark;
        for (fk, fv) in tree::entries(m) {
            let field = fk.as_str().unwrap_or_default();
            match field {
                "definition" => tree::set(&mut body, "definition", fv.clone()),
                "type" => tree::set(&mut body, "type", fv.clone()),
                "tags" => tree::set(&mut body, "tags", fv.clone()),
                "name" => cx.removed(fk, format!("{path}.name"), format!("sls-rs names the state machine `{{service}}-{{stage}}-{name}`")),
                "tracingConfig" if fv.get("enabled").is_some_and(tree::is_true) => {
                    cx.changed(fk, format!("{path}.tracingConfig"), "→ `provider.tracing.stepFunctions: true` (every state machine)");
                    let tracing = tree::child_map(tree::child_map(root, "provider"), "tracing");
                    tree::set(tracing, "stepFunctions", tree::plain("true"));
                }
                "events" => cx.todo(fk, format!("{path}.events"), "state machine triggers (http, schedule) are not supported: start it from a function with `permissions: [{ stateMachine: NAME, access: start }]`; removed"),
                "role" | "loggingConfig" | "alarms" | "notifications" | "dependsOn" | "id" | "useExactVersion" | "retain" => cx.todo(fk, format!("{path}.{field}"), format!("`{field}` is not supported; removed")),
                other => cx.todo(fk, format!("{path}.{other}"), format!("`{other}` was not converted; removed")),
            }
        }
        cx.changed(name_key, &path, format!("→ resources.stateMachines.{name}"));
        out.push((Node::scalar(name, false, name_key.mark), body));
    }
    let resources = tree::child_map(root, "resources");
    let dest = tree::child_map(resources, "stateMachines");
    tree::entries_mut(dest).expect("a map").extend(out);
}

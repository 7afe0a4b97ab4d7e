//! A tool's input schema, read off its verb's clap arguments: one property per flag, typed
//! by the flag's value parser (a switch is a boolean, a repeatable flag an array), with
//! its help as the description, its choices and its default.

use super::tools::ToolSpec;
use clap::{Arg, ArgAction};
use rmcp::model::JsonObject;
use serde_json::{Map, Value, json};
use std::any::TypeId;

/// The JSON schema of a tool's arguments: one property per flag.
pub(super) fn schema(spec: &ToolSpec, args: &[&Arg]) -> JsonObject {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for arg in args {
        let key = arg.get_id().to_string();
        let has_default = spec.defaults.iter().any(|(k, _)| *k == key);
        if arg.is_required_set() && !has_default {
            required.push(Value::String(key.clone()));
        }
        properties.insert(key, property(spec, arg));
    }
    let mut schema = Map::new();
    schema.insert("type".into(), json!("object"));
    schema.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        schema.insert("required".into(), Value::Array(required));
    }
    schema.insert("additionalProperties".into(), json!(false));
    schema
}

fn property(spec: &ToolSpec, arg: &Arg) -> Value {
    let key = arg.get_id().as_str();
    let mut item = Map::new();
    let scalar = if key.ends_with("_json") {
        json!(["object", "string"])
    } else {
        json!(value_type(arg))
    };
    item.insert("type".into(), scalar);
    let choices: Vec<Value> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| json!(v.get_name()))
        .collect();
    if !choices.is_empty() && !matches!(arg.get_action(), ArgAction::SetTrue) {
        item.insert("enum".into(), Value::Array(choices));
    }
    let mut prop = match arg.get_action() {
        ArgAction::SetTrue => {
            let mut m = Map::new();
            m.insert("type".into(), json!("boolean"));
            m
        }
        ArgAction::Append => {
            let mut m = Map::new();
            m.insert("type".into(), json!("array"));
            m.insert("items".into(), Value::Object(item));
            m
        }
        _ => item,
    };
    let mut help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
    let bound = spec.max_wait.filter(|_| key == "timeout_seconds");
    if let Some(max) = bound {
        help = format!("{help} Here at most {max}; 0 or none means {max}.");
    }
    if !help.is_empty() {
        prop.insert("description".into(), json!(help.trim()));
    }
    let default = bound.map(|max| max.to_string());
    let default = default.or_else(|| {
        spec.defaults
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
            .or_else(|| {
                arg.get_default_values()
                    .first()
                    .map(|v| v.to_string_lossy().into_owned())
            })
    });
    let default = default.filter(|d| !d.is_empty() && arg.get_action().takes_values());
    if let Some(default) = default {
        let typed = match value_type(arg) {
            "integer" => default.parse::<i64>().map(Value::from).ok(),
            _ => None,
        };
        prop.insert("default".into(), typed.unwrap_or(Value::String(default)));
    }
    Value::Object(prop)
}

/// The JSON type of one value of a flag.
fn value_type(arg: &Arg) -> &'static str {
    let id = arg.get_value_parser().type_id();
    let integers = [
        TypeId::of::<i64>(),
        TypeId::of::<u64>(),
        TypeId::of::<usize>(),
        TypeId::of::<i32>(),
        TypeId::of::<u32>(),
        TypeId::of::<u16>(),
        TypeId::of::<u8>(),
    ];
    if integers.iter().any(|t| id == *t) {
        "integer"
    } else if id == TypeId::of::<f64>() {
        "number"
    } else if id == TypeId::of::<bool>() {
        "boolean"
    } else {
        "string"
    }
}

//! JSON as analogc writes it: every object's keys sorted (results are typed
//! structs; their JSON does not depend on field order).

use serde::Serialize;

/// `value` as JSON, compact or pretty, keys sorted.
pub fn to_sorted_json(value: &impl Serialize, pretty: bool) -> String {
    // A `Value`'s maps are sorted by key; typed structs keep field order.
    let v = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    if pretty {
        serde_json::to_string_pretty(&v).unwrap_or_default()
    } else {
        v.to_string()
    }
}

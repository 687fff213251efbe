//! Shapes of the generated schemas that client generators read more easily, applied to the JSON
//! document: tagged unions as a `oneOf` of named, complete objects with a `discriminator`, lists
//! that refer to their item schema, and the step window whose zone may be left out.

use serde_json::{json, Map, Value};

const REF_PREFIX: &str = "#/components/schemas/";

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("{REF_PREFIX}{name}") })
}

/// Applies every rewrite below to `document`.
pub fn tidy(document: &mut Value) {
    head_of_redirect(document);
    let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    name_tagged_variants(schemas, "Action", "Action");
    name_tagged_variants(schemas, "ActionInput", "ActionInput");
    name_tagged_variants(schemas, "WhenClosed", "WhenClosed");
    name_tagged_variants(schemas, "Header", "Header");
    name_tagged_variants(schemas, "ButtonParameter", "Button");
    complete_link_views(schemas);
    refer_page_items(schemas);
    step_window(schemas);
}

/// `"ignore_hours"` → `"IgnoreHours"`.
fn pascal(tag: &str) -> String {
    tag.split('_')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            }
        })
        .collect()
}

/// The one value of a variant's `type` property (`{"type": "string", "enum": ["template"]}`).
fn tag_of(variant: &Value) -> Option<String> {
    let tag = variant.pointer("/properties/type")?;
    match tag.get("enum").and_then(Value::as_array).map(Vec::as_slice) {
        Some([Value::String(tag)]) => Some(tag.clone()),
        _ => tag.get("const").and_then(Value::as_str).map(str::to_string),
    }
}

/// A discriminator on `type` mapping each tag to its variant's schema.
fn discriminator(variants: &[(String, String)]) -> Value {
    let mapping: Map<String, Value> = variants
        .iter()
        .map(|(tag, name)| (tag.clone(), Value::from(format!("{REF_PREFIX}{name}"))))
        .collect();
    json!({ "propertyName": "type", "mapping": mapping })
}

/// Moves each inline variant of the `oneOf` of schema `name` (an internally tagged enum) to its
/// own schema `<Tag><suffix>`, and adds the discriminator.
fn name_tagged_variants(schemas: &mut Map<String, Value>, name: &str, suffix: &str) {
    let Some(Value::Array(variants)) = schemas.get_mut(name).and_then(|s| s.get_mut("oneOf"))
    else {
        return;
    };
    let mut named = Vec::new();
    let mut moved = Vec::new();
    for variant in variants.iter_mut() {
        let Some(tag) = tag_of(variant) else {
            return;
        };
        let variant_name = format!("{}{suffix}", pascal(&tag));
        moved.push((variant_name.clone(), variant.take()));
        *variant = schema_ref(&variant_name);
        named.push((tag, variant_name));
    }
    if let Some(schema) = schemas.get_mut(name).and_then(Value::as_object_mut) {
        schema.insert("discriminator".into(), discriminator(&named));
    }
    for (variant_name, variant) in moved {
        schemas.insert(variant_name, variant);
    }
}

/// `LinkView` is generated as an `allOf` of the common fields and the untagged `KindView`, and
/// `LinkResponse` as an `allOf` of `LinkView` and `url`. Both become a `oneOf` of complete
/// objects, one per link type (`WhatsappLinkView`, `RotatorLinkView`, `WhatsappLinkResponse`,
/// `RotatorLinkResponse`), discriminated by `type`; `KindView` is then no longer referenced.
fn complete_link_views(schemas: &mut Map<String, Value>) {
    let Some(common) = schemas
        .get("LinkView")
        .and_then(|view| view.pointer("/allOf/1"))
        .cloned()
    else {
        return;
    };
    let Some(kinds) = schemas
        .get("KindView")
        .and_then(|kind| kind.get("oneOf"))
        .and_then(Value::as_array)
        .cloned()
    else {
        return;
    };
    let url = schemas
        .get("LinkResponse")
        .and_then(|response| response.pointer("/allOf/1"))
        .cloned();
    let tags = ["whatsapp", "rotator"];
    if kinds.len() != tags.len() {
        return;
    }
    let mut views = Vec::new();
    let mut responses = Vec::new();
    for (tag, kind) in tags.iter().zip(&kinds) {
        let mut view = common.clone();
        merge_object(&mut view, kind);
        if let Some(properties) = view.get_mut("properties").and_then(Value::as_object_mut) {
            properties.insert("type".into(), json!({"type": "string", "enum": [tag]}));
        }
        let view_name = format!("{}LinkView", pascal(tag));
        if let Some(url) = &url {
            let mut response = view.clone();
            merge_object(&mut response, url);
            let response_name = format!("{}LinkResponse", pascal(tag));
            schemas.insert(response_name.clone(), response);
            responses.push((tag.to_string(), response_name));
        }
        schemas.insert(view_name.clone(), view);
        views.push((tag.to_string(), view_name));
    }
    replace_with_one_of(schemas, "LinkView", &views);
    if url.is_some() {
        replace_with_one_of(schemas, "LinkResponse", &responses);
    }
    schemas.remove("KindView");
}

/// Adds `extra`'s properties and required names to the object schema `into`.
fn merge_object(into: &mut Value, extra: &Value) {
    let (Some(into), Some(extra)) = (into.as_object_mut(), extra.as_object()) else {
        return;
    };
    if let Some(Value::Object(props)) = extra.get("properties") {
        let target = into
            .entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(target) = target.as_object_mut() {
            for (key, value) in props {
                target.insert(key.clone(), value.clone());
            }
        }
    }
    if let Some(Value::Array(required)) = extra.get("required") {
        let target = into
            .entry("required")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Some(target) = target.as_array_mut() {
            for name in required {
                if !target.contains(name) {
                    target.push(name.clone());
                }
            }
        }
    }
    into.insert("type".into(), Value::from("object"));
}

/// Makes schema `name` a `oneOf` of `variants` (tag, schema name) discriminated by `type`,
/// keeping its description and example.
fn replace_with_one_of(
    schemas: &mut Map<String, Value>,
    name: &str,
    variants: &[(String, String)],
) {
    let Some(schema) = schemas.get_mut(name).and_then(Value::as_object_mut) else {
        return;
    };
    schema.remove("allOf");
    schema.insert(
        "oneOf".into(),
        Value::Array(variants.iter().map(|(_, name)| schema_ref(name)).collect()),
    );
    schema.insert("discriminator".into(), discriminator(variants));
}

/// `Page_X` schemas copy `X` into `items`; they refer to it instead.
fn refer_page_items(schemas: &mut Map<String, Value>) {
    let names: Vec<String> = schemas
        .keys()
        .filter_map(|name| name.strip_prefix("Page_"))
        .filter(|item| schemas.contains_key(*item))
        .map(str::to_string)
        .collect();
    for item in names {
        if let Some(items) = schemas
            .get_mut(&format!("Page_{item}"))
            .and_then(|page| page.pointer_mut("/properties/items"))
            .and_then(Value::as_object_mut)
        {
            items.insert("items".into(), schema_ref(&item));
        }
    }
}

/// A step's `window` may leave `time_zone` out (the sequence's zone is used): `StepWindow` is
/// `WindowSpec` with the zone optional, and `StepInput.window` refers to it. Link `hours` keep
/// the zone required.
fn step_window(schemas: &mut Map<String, Value>) {
    let Some(mut window) = schemas.get("WindowSpec").cloned() else {
        return;
    };
    if let Some(required) = window.get_mut("required").and_then(Value::as_array_mut) {
        required.retain(|name| name != "time_zone");
    }
    if let Some(zone) = window.pointer_mut("/properties/time_zone") {
        if let Some(zone) = zone.as_object_mut() {
            zone.insert(
                "description".into(),
                Value::from("IANA zone the ranges are read in; by default the sequence's."),
            );
        }
    }
    if let Some(example) = window.get_mut("example").and_then(Value::as_object_mut) {
        example.remove("time_zone");
    }
    if let Some(window) = window.as_object_mut() {
        window.insert(
            "description".into(),
            Value::from(
                "When a step may go out: a window whose `time_zone` defaults to the sequence's.",
            ),
        );
    }
    schemas.insert("StepWindow".into(), window);
    let Some(variants) = schemas
        .get_mut("StepInput")
        .and_then(|step| step.pointer_mut("/properties/window/oneOf"))
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for variant in variants {
        if variant.get("$ref").and_then(Value::as_str) == Some(&format!("{REF_PREFIX}WindowSpec")) {
            variant["$ref"] = Value::from(format!("{REF_PREFIX}StepWindow"));
        }
    }
}

/// The redirect's one handler serves `GET` and `HEAD /{slug}`; its `HEAD` operation is
/// `peekLink`: always the preview page's headers (never a redirect), no body.
fn head_of_redirect(document: &mut Value) {
    let Some(head) = document
        .pointer_mut("/paths/~1{slug}/head")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    head.insert("operationId".into(), Value::from("peekLink"));
    head.insert(
        "summary".into(),
        Value::from("The link's preview, headers only."),
    );
    head.insert(
        "description".into(),
        Value::from(
            "Always the preview page's headers, whatever the user agent; it never advances the \
             rotation.",
        ),
    );
    let Some(responses) = head.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    responses.remove("302");
    if let Some(ok) = responses.get_mut("200").and_then(Value::as_object_mut) {
        ok.insert(
            "description".into(),
            Value::from("The preview page's headers."),
        );
    }
    for response in responses.values_mut() {
        if let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) {
            for media in content.values_mut() {
                *media = json!({});
            }
        }
    }
}

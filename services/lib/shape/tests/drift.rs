//! What a capture changes, compared with the captures before it.

use hookmetry_shape::FieldChangeKind::{Added, Removed, Retyped};
use hookmetry_shape::JsonType::*;
use hookmetry_shape::{Change, ChangeKind, Limits, MAX_LISTED_CHANGES, Shape};
use serde_json::json;

use crate::common::{field, info, learned, observe, shape};

#[test]
fn the_first_sample_is_learned_not_reported() {
    let mut s = Shape::default();
    assert_eq!(s.samples(), 0);
    assert_eq!(observe(&mut s, &json!({"a": 1, "b": {"c": [1]}})), None);
    assert_eq!(s.samples(), 1);
    assert_eq!(s, shape(&json!({"a": 1, "b": {"c": [1]}})));
}

#[test]
fn the_same_shape_again_is_no_change() {
    let body = json!({"id": "evt_1", "data": {"amount": 10, "tags": ["a"]}});
    let mut s = learned(&[body]);
    for i in 0..5 {
        assert_eq!(observe(&mut s, &json!({"id": format!("evt_{i}"), "data": {"amount": i, "tags": []}})), None);
    }
    assert_eq!(s.samples(), 6);
    assert_eq!(info(&s, "data.amount").present, 6);
}

#[test]
fn added_reports_the_topmost_new_path_only() {
    let mut s = learned(&[json!({"id": "a", "data": {"amount": 1}})]);
    let change = observe(
        &mut s,
        &json!({"id": "a", "data": {"amount": 1, "currency": "usd", "shipping": {"name": "x", "address": {"city": "y"}}}}),
    );
    assert_eq!(
        change,
        Some(Change {
            kind: ChangeKind::Added,
            fields: vec![field("data.currency", Added, &[], &[String]), field("data.shipping", Added, &[], &[Object])],
            more: 0,
        })
    );
    // Learned with their parent: now known, so not reported again.
    assert_eq!(info(&s, "data.shipping.address.city").types, [String]);
    assert_eq!(
        observe(
            &mut s,
            &json!({"id": "a", "data": {"amount": 1, "shipping": {"name": "x", "address": {"city": "y"}}}})
        ),
        None
    );
    // The new fields were absent from the first sample: optional, and their absence is no change.
    assert!(!info(&s, "data.currency").required);
}

#[test]
fn fields_of_a_parent_that_only_now_became_an_object_are_not_added() {
    let mut s = learned(&[json!({"customer": null}), json!({"customer": null})]);
    let change = observe(&mut s, &json!({"customer": {"id": "cus_1", "email": "a@b.c"}}));
    assert_eq!(
        change,
        Some(Change {
            kind: ChangeKind::Retyped,
            fields: vec![field("customer", Retyped, &[Null], &[Object])],
            more: 0
        })
    );
}

#[test]
fn first_elements_of_an_array_are_learned() {
    let mut s = learned(&[json!({"refunds": []}), json!({"refunds": []})]);
    assert_eq!(observe(&mut s, &json!({"refunds": [{"id": "re_1"}]})), None);
    // Now the elements have a shape to differ from.
    assert_eq!(
        observe(&mut s, &json!({"refunds": [{"id": "re_2", "reason": "fraud"}]})),
        Some(Change {
            kind: ChangeKind::Added,
            fields: vec![field("refunds[].reason", Added, &[], &[String])],
            more: 0
        })
    );
    assert_eq!(
        observe(&mut s, &json!({"refunds": ["re_3"]})),
        Some(Change {
            kind: ChangeKind::Retyped,
            fields: vec![field("refunds[]", Retyped, &[Object], &[String])],
            more: 0
        })
    );
    // An empty array says nothing about its elements.
    assert_eq!(observe(&mut s, &json!({"refunds": []})), None);
}

#[test]
fn removed_needs_a_field_present_in_every_earlier_sample() {
    let a = json!({"id": "x", "note": "n", "data": {"amount": 1}});
    // One earlier sample is too few to call a field required.
    let mut s = learned(std::slice::from_ref(&a));
    assert_eq!(observe(&mut s, &json!({"id": "x", "data": {"amount": 1}})), None);
    // Now `note` was absent once: optional, and its absence is never a change.
    assert_eq!(observe(&mut s, &json!({"id": "x", "data": {"amount": 1}})), None);
    assert!(!info(&s, "note").required);

    let mut s = learned(&[a.clone(), a.clone()]);
    assert_eq!(
        observe(&mut s, &json!({"id": "x", "data": {}})),
        Some(Change {
            kind: ChangeKind::Removed,
            fields: vec![field("data.amount", Removed, &[Integer], &[]), field("note", Removed, &[String], &[])],
            more: 0,
        })
    );
    // Reported once: it is optional from now on.
    assert_eq!(observe(&mut s, &json!({"id": "x", "data": {}})), None);
    assert_eq!(info(&s, "note").present, 2);
    assert_eq!(info(&s, "note").parent_present, 4);
}

#[test]
fn an_absent_parent_is_reported_alone() {
    let a = json!({"id": "x", "data": {"object": {"amount": 1, "currency": "usd"}}});
    let mut s = learned(&[a.clone(), a.clone(), a]);
    assert_eq!(
        observe(&mut s, &json!({"id": "x"})),
        Some(Change { kind: ChangeKind::Removed, fields: vec![field("data", Removed, &[Object], &[])], more: 0 })
    );
    // A parent turned null is a retype of the parent, not a removal of its fields.
    assert_eq!(
        observe(&mut s, &json!({"id": "x", "data": null})),
        Some(Change { kind: ChangeKind::Retyped, fields: vec![field("data", Retyped, &[Object], &[Null])], more: 0 })
    );
    // The fields stay required where the parent is an object: `data` was an object 3 times, always
    // with `object.amount`.
    assert!(info(&s, "data.object").required);
    assert!(!info(&s, "data").required);
}

#[test]
fn a_field_missing_from_one_array_element_is_removed_there() {
    let a = json!({"lines": [{"id": "1", "price": 1}, {"id": "2", "price": 2}]});
    let mut s = learned(&[a.clone(), a]);
    assert_eq!(
        observe(&mut s, &json!({"lines": [{"id": "3", "price": 3}, {"id": "4"}]})),
        Some(Change {
            kind: ChangeKind::Removed,
            fields: vec![field("lines[].price", Removed, &[Integer], &[Integer])],
            more: 0
        })
    );
    // An empty array removes nothing from its elements.
    assert_eq!(observe(&mut s, &json!({"lines": []})), None);
}

#[test]
fn retyped_includes_null_but_not_integer_to_float() {
    let a = json!({"amount": 100, "name": "n", "ok": true});
    let mut s = learned(&[a.clone(), a]);
    assert_eq!(observe(&mut s, &json!({"amount": 100.5, "name": "n", "ok": true})), None);
    assert_eq!(info(&s, "amount").types, [Number]);
    assert_eq!(observe(&mut s, &json!({"amount": 7, "name": "n", "ok": true})), None);
    assert_eq!(
        observe(&mut s, &json!({"amount": "100", "name": null, "ok": true})),
        Some(Change {
            kind: ChangeKind::Retyped,
            fields: vec![field("amount", Retyped, &[Number], &[String]), field("name", Retyped, &[String], &[Null])],
            more: 0,
        })
    );
    assert_eq!(observe(&mut s, &json!({"amount": "100", "name": null, "ok": true})), None);
    assert_eq!(info(&s, "amount").types, [Number, String]);
    assert_eq!(info(&s, "name").types, [Null, String]);
}

#[test]
fn more_than_one_kind_is_mixed() {
    let a = json!({"a": 1, "b": "x", "c": true});
    let mut s = learned(&[a.clone(), a]);
    assert_eq!(
        observe(&mut s, &json!({"a": "1", "c": true, "d": [1]})),
        Some(Change {
            kind: ChangeKind::Mixed,
            fields: vec![
                field("a", Retyped, &[Integer], &[String]),
                field("b", Removed, &[String], &[]),
                field("d", Added, &[], &[Array]),
            ],
            more: 0,
        })
    );
}

#[test]
fn a_changed_top_level_type_is_the_empty_path() {
    let mut s = learned(&[json!({"a": 1})]);
    assert_eq!(
        observe(&mut s, &json!([1])),
        Some(Change { kind: ChangeKind::Retyped, fields: vec![field("", Retyped, &[Object], &[Array])], more: 0 })
    );
}

#[test]
fn many_changes_are_listed_up_to_the_bound_sorted_by_path() {
    let mut s = learned(&[json!({"base": 1})]);
    let mut body = serde_json::Map::new();
    body.insert("base".into(), json!(1));
    for i in 0..120 {
        body.insert(format!("f{i:03}"), json!(i));
    }
    let change = observe(&mut s, &body.into()).unwrap();
    assert_eq!(change.kind, ChangeKind::Added);
    assert_eq!(change.fields.len(), MAX_LISTED_CHANGES);
    assert_eq!(change.more, 70);
    assert_eq!(change.fields[0], field("f000", Added, &[], &[Integer]));
    assert_eq!(change.fields[49].path, "f049");
}

#[test]
fn change_serializes_for_the_store_and_the_api() {
    let mut s = learned(&[json!({"a": 1})]);
    let change = observe(&mut s, &json!({"a": null, "b": 1.5})).unwrap();
    assert_eq!(
        serde_json::to_value(&change).unwrap(),
        json!({"kind": "mixed", "more": 0, "fields": [
            {"path": "a", "kind": "retyped", "before": ["integer"], "after": ["null"]},
            {"path": "b", "kind": "added", "before": [], "after": ["number"]},
        ]})
    );
    assert_eq!(serde_json::from_value::<Change>(serde_json::to_value(&change).unwrap()).unwrap(), change);
}

#[test]
fn observing_a_merged_shape_compares_against_all_its_samples() {
    // `seen` is normally one capture, but merging two shapes learned apart works the same way.
    let mut a = learned(&[json!({"x": 1, "y": 1}), json!({"x": 1, "y": 1})]);
    let mut b = learned(&[json!({"x": 1})]);
    assert!(observe(&mut b, &json!({"x": 1, "y": "s"})).is_some());
    let change = a.observe(&b, &Limits::default()).unwrap();
    assert_eq!(
        change.fields,
        vec![field("y", Removed, &[Integer], &[String]), field("y", Retyped, &[Integer], &[String])]
    );
    assert_eq!(a.samples(), 4);
}

/// The sequences docs/schema-drift.md shows.
#[test]
fn the_examples_in_the_docs() {
    let mut s = learned(&[json!({"id": "a", "data": {"amount": 1}})]);
    assert_eq!(
        observe(&mut s, &json!({"id": "a", "data": {"amount": 1, "currency": "usd", "shipping": {"name": "x"}}}))
            .unwrap()
            .fields,
        [field("data.currency", Added, &[], &[String]), field("data.shipping", Added, &[], &[Object])]
    );

    let first = json!({"id": "x", "note": "n", "data": {"object": {"amount": 1}}});
    let mut s = learned(&[first.clone(), first]);
    assert_eq!(
        observe(&mut s, &json!({"id": "x", "data": {"object": {}}})).unwrap().fields,
        [field("data.object.amount", Removed, &[Integer], &[]), field("note", Removed, &[String], &[])]
    );
    assert_eq!(observe(&mut s, &json!({"id": "x"})).unwrap().fields, [field("data", Removed, &[Object], &[])]);

    let first = json!({"amount": 100, "name": "n"});
    let mut s = learned(&[first.clone(), first]);
    assert_eq!(
        observe(&mut s, &json!({"amount": "100", "name": null})).unwrap().fields,
        [field("amount", Retyped, &[Integer], &[String]), field("name", Retyped, &[String], &[Null])]
    );
    assert_eq!(observe(&mut s, &json!({"amount": 100.5, "name": "n"})), None);
}

"""The GraphQL schema and the op registry in step: every op is reachable as a query or a
mutation (or excluded, with the reason said), each field takes its op's arguments and
answers the keys its op declares. A new op fails here until it has its place."""

from __future__ import annotations

import dataclasses

from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, Undefined, get_named_type

from events.shapes import Maybe, Struct, declared_shape
from sdactors.node.http import access
from sdactors.node.http.graphql.schema import EXCLUDED, FIXED, QUIET, field_name, schema
from sdactors.ops.base import command_class, commands
from sdactors.ops.results import Fields


def _fields() -> tuple[dict, dict]:
    built = schema()._schema
    return dict(built.query_type.fields), dict(built.mutation_type.fields)


def test_every_op_is_a_query_a_mutation_or_excluded_with_a_reason() -> None:
    queries, mutations = _fields()
    for name in commands():
        cls = command_class(name)
        field = field_name(name)
        if name in EXCLUDED:
            assert EXCLUDED[name].strip(), name
            assert field not in queries and field not in mutations, name
        elif cls.writes:
            assert field in mutations, f"{name} writes: a mutation"
        elif name in access.READS or name in QUIET:
            assert field in queries, f"{name} changes nothing: a query"
        else:
            # Not listed as a read: it changes something (this machine, the network).
            assert field in mutations, f"{name} is not a read: a mutation"
    reachable = {field_name(n) for n in commands() if n not in EXCLUDED}
    assert set(queries) | set(mutations) == reachable
    assert not set(queries) & set(mutations)
    assert set(EXCLUDED) <= set(commands()) and QUIET <= set(commands())


def test_a_query_changes_nothing() -> None:
    queries, _ = _fields()
    for name in commands():
        if field_name(name) in queries:
            assert not command_class(name).writes, name


def test_each_field_takes_its_op_s_arguments() -> None:
    queries, mutations = _fields()
    for name in commands():
        if name in EXCLUDED:
            continue
        field = {**queries, **mutations}[field_name(name)]
        cls = command_class(name)
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        declared = [(arg, shape) for arg, shape in declared_shape(cls).fields if arg not in FIXED]
        assert list(field.args) == [arg for arg, _ in declared], name
        for arg, shape in declared:
            given = field.args[arg]
            assert isinstance(given.type, GraphQLNonNull) == (not isinstance(shape, Maybe))
            missing = defaults[arg] is dataclasses.MISSING
            assert (given.default_value is Undefined) == missing, (name, arg)


def test_each_result_type_has_the_keys_its_op_declares() -> None:
    queries, mutations = _fields()
    for name in commands():
        if name in EXCLUDED:
            continue
        cls = command_class(name)
        shape = cls.result
        kind = {**queries, **mutations}[field_name(name)].type
        while isinstance(kind, (GraphQLNonNull, GraphQLList)):
            kind = kind.of_type
        if getattr(shape, "item", None) is not None:
            shape = shape.item
        if not isinstance(shape, (Struct, Fields)):
            continue
        assert isinstance(kind, GraphQLObjectType), name
        keys = (
            [k for k, _ in shape.fields]
            if isinstance(shape, Struct)
            else [k for k, _ in shape.required + shape.optional]
        )
        if cls.stream is not None:
            keys += [k for k, _ in cls.stream.fields]
        assert list(kind.fields) == keys, name
        for key, value in kind.fields.items():
            assert get_named_type(value.type) is not None, (name, key)

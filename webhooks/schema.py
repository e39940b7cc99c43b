"""The OpenAPI description of an event: one variant per kind of `data`, each naming its types."""

import copy
from collections import defaultdict

from django.utils.module_loading import import_string
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.plumbing import ResolvedComponent

from webhooks.events import EVENT_DATA


class EventScheme(OpenApiSerializerExtension):
    target_class = "webhooks.serializers.EventOutputSerializer"

    def map_serializer(self, auto_schema, direction):
        base = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        types_by_data: dict[str, list[str]] = defaultdict(list)
        for event_type, data in EVENT_DATA.items():
            types_by_data[data].append(event_type)
        variants = []
        for data, types in types_by_data.items():
            data_component = auto_schema.resolve_serializer(import_string(data), direction)
            variant = copy.deepcopy(base)
            variant["description"] = f"An event of type {', '.join(types)}."
            variant["properties"]["type"] = {"type": "string", "enum": types}
            variant["properties"]["data"] = data_component.ref
            # A component of its own per variant, named for its data: InvitationEvent, WebhookTestEvent.
            component = ResolvedComponent(
                name=data_component.name.removesuffix("Data"),
                type=ResolvedComponent.SCHEMA,
                object=data,
                schema=variant,
            )
            auto_schema.registry.register_on_missing(component)
            variants.append(component.ref)
        return {"oneOf": variants, "description": "An event; its `data` follows its `type`."}

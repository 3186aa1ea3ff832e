"""The shape of every admin resource, defined once.

Each resource (connection, endpoint, client token, user, vault secret) has one module here holding its
create model; the update model (every field optional, none nullable that the column is not) and the
read model are derived from it. Validation in the services (janus.services.*), the admin API's OpenAPI
document (janus.admin_api.apidocs), its per-field error messages and the admin MCP tools' input schemas
(janus.services.admin_tools) all come from these models, so adding a field is one edit here (plus its
column and migration).

pydantic v2 is the ecosystem's standard for this: one class gives validation and a JSON Schema
(2020-12, what OpenAPI 3.1 and MCP tool input schemas speak). The checks themselves are Janus's own
validators (janus.schemas.fields), so the messages are the sentences users already read, every field
is checked and reported at once, and the JSON Schema keywords come from the same arguments.

Nothing here touches the database or the app: rules that need them (unique names, prefix clashes, the
egress policy) stay in the services.
"""

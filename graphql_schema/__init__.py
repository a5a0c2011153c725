"""The GraphQL layer: what the API says, grouped by who uses it, and the engine that serves it.

- `member/`, `partner/`, `operator/`: the types and resolvers of each audience (the member app,
  partners' tills and systems, the operator console).
- The modules here are what all of them stand on: the request context (context), who may read a
  field (permissions), the one error table (refusals, user_errors, errors), global ids (ids),
  Relay connections and cursors (relay), scalars and instants (scalars, instants), and the text a
  client may send (client_text). schema.py assembles the roots; export.py writes the SDL.
- `engine/`: how a request is received, checked and run, cheaper than strawberry's and
  graphql-core's general path (engine/__init__.py says why).
"""

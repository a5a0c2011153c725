"""The execution engine: how a GraphQL request is received, checked and run. What the API says
(its types and resolvers) is in the packages beside this one; this is how it is served.

It exists because strawberry and graphql-core, used as they come, cost too much per request.
Their general path (a request adapter, an execution context, the extension runner with a context
manager per hook and stage, graphql-core's executor collecting fields and building a resolve info
for each one) cost `me { balance }` twice the CPU of a hand-written endpoint doing the same token
check and read (bench/api.py); and the checks that come with them walk a document as its
fragments expand, so a document of 1.2 KB could keep the event loop for good. Here what a cached
document needs is done once per document, not once per request; the engine's own checks take time
linear in the document's text and refuse what would be too big before graphql-core's rules walk
it; and what grows with the text (parsing and validating a document no cache knows) runs off the
event loop. The resolvers, the answers and the errors stay strawberry's:
tests/api/test_fast_query.py posts each document down both paths and compares the responses byte
for byte.

- `view.py`: the ASGI endpoint, `JifenGraphQL`: HTTP POST and graphql-transport-ws, the context
  built once per request, a clean query handed to the lean path and the rest to strawberry's.
- `fast_query.py`: the lean path for a clean POSTed query: cached parse and validation, the
  document's plan (or graphql-core's `execute`), the answer encoded with orjson.
- `plans.py`: compiled execution plans: a cached document run without graphql-core's general
  executor, by its rules.
- `watchdog.py`: lean-path queries cut off at their time budget by one periodic check, not a
  timer per request.
- `guard.py`: `RequestGuard`, the one schema extension on strawberry's full path: the document
  limits, the member mutation limit, error masking.
- `safety.py`: the limits every document meets (tokens, depth, aliases, fields, repeated keys),
  validation without suggestions, the parse and validation caches and the thread that fills them.
- `shape.py`: a document's depth, aliases, fields and repeated keys, measured in linear time
  whatever its fragments expand to.
- `caches.py`: the documents' caches, bounded by the size of what they hold, not by a count.
- `mutation_limit.py`: the member mutation limit, one database command per mutation document.
- `frames.py`: what a graphql-transport-ws frame must look like before strawberry's handler reads
  it.
- `connections.py`: a WebSocket connection that ends when its token expires or its member's
  access is revoked.
- `ide.py`: GraphiQL in dev mode, its scripts and styles served from /vendor, not unpkg.com.
"""

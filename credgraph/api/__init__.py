"""The Starlette app, its GraphQL schema, and the command line."""

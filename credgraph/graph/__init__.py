"""Neo4j: the managed server, driver handling, migrations, the declared graph model."""

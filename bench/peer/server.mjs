// The API benchmark's peer (issue 14): @neo4j/graphql on Apollo Server's standalone server
// over the bench Neo4j, started and stopped by bench/api.py. Type definitions come from the
// file PEER_TYPEDEFS (generated from credgraph's model by bench/peer_schema.py). The Cypher
// the library generates is kept only while capturing — POST /start then /stop on
// PEER_CONTROL_PORT returns it — so that logging costs nothing while the peer is timed.
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { format } from "node:util";

import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { Neo4jGraphQL } from "@neo4j/graphql";
import debug from "debug";
import neo4j from "neo4j-driver";

const NAMESPACE = "@neo4j/graphql:execution";
const env = process.env;
const driver = neo4j.driver(env.PEER_BOLT_URI, neo4j.auth.basic(env.PEER_USER, env.PEER_PASSWORD));
const typeDefs = readFileSync(env.PEER_TYPEDEFS, "utf8");
const schema = await new Neo4jGraphQL({ typeDefs, driver }).getSchema();

let captured = [];
debug.log = (...args) => captured.push(format(...args));

const control = createServer((req, res) => {
  const stopping = req.url === "/stop";
  if (stopping) debug.disable(); else { captured = []; debug.enable(NAMESPACE); }
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify(stopping ? captured : []));
});
control.listen(Number(env.PEER_CONTROL_PORT), "127.0.0.1");

const server = new ApolloServer({ schema });
const { url } = await startStandaloneServer(server, {
  listen: { host: "127.0.0.1", port: Number(env.PEER_PORT) },
});
process.on("SIGTERM", async () => {
  control.close();
  await server.stop();
  await driver.close();
  process.exit(0);
});
console.log(`peer ready at ${url}`);
